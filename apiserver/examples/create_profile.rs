//! Times the create path in-process (router, no socket): `cargo run --release -p
//! kubesim-apiserver --example create_profile [-- COUNT]`. For profiling the server's own
//! work per create; `scripts/bench` measures creates over HTTP.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, header};
use kubesim_apiserver::{ApiServer, Config};
use tower::ServiceExt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let server = ApiServer::new(Config::default());
    let router = server.router();
    let start = Instant::now();
    for i in 0..count {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"bench-{i}"}},"data":{{"key":"value"}}}}"#
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/namespaces/default/configmaps")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "kubesim-bench/v0.0.0")
            .body(Body::from(body))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), 201);
    }
    let elapsed = start.elapsed();
    println!(
        "{count} creates in {elapsed:?}: {:.1} µs per create",
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}
