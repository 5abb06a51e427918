//! Shared set-up: an in-process API server on a free port and a client for it.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

pub async fn server() -> (String, kube::Client) {
    let server = kubesim_apiserver::ApiServer::new(kubesim_apiserver::Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(kubesim_apiserver::serve(
        server,
        listener,
        std::future::pending(),
    ));
    let client = kubesim_controllers::client(&url).unwrap();
    (url, client)
}

/// Poll `check` until it returns Some, or panic after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
