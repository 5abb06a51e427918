//! A test API server driven through its router, without a socket.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt;
use http_body_util::BodyExt;
use kubesim_apiserver::{ApiServer, Config};
use serde_json::Value;
use tower::ServiceExt;

pub struct TestApi {
    pub server: Arc<ApiServer>,
    pub router: Router,
}

impl TestApi {
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        let server = ApiServer::new(config);
        let router = server.router();
        TestApi { server, router }
    }

    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::USER_AGENT, "kubesim-tests")
            .body(Body::from(body))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// A GET with extra headers (`Accept`, `If-None-Match`...); the response headers too.
    pub async fn get_with(
        &self,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut request = Request::builder().method(Method::GET).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, value)
    }

    /// A request with a body and a content type; the response headers too.
    pub async fn send_with_headers(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, value)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Method::GET, uri, "application/json", Vec::new())
            .await
    }

    /// A GET with an `Accept` header (e.g. kubectl's for Tables), and its raw body.
    pub async fn get_accepting(&self, uri: &str, accept: &str) -> (StatusCode, bytes::Bytes) {
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let status = response.status();
        (
            status,
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes(),
        )
    }

    pub async fn post(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            uri,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn put(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Method::PUT,
            uri,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn patch(&self, uri: &str, content_type: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Method::PATCH,
            uri,
            content_type,
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn delete(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, uri, "application/json", Vec::new())
            .await
    }

    pub async fn delete_with(&self, uri: &str, options: &Value) -> (StatusCode, Value) {
        self.send(
            Method::DELETE,
            uri,
            "application/json",
            options.to_string().into_bytes(),
        )
        .await
    }

    /// Open a watch and return a reader of its events.
    pub async fn watch(&self, uri: &str) -> WatchReader {
        self.watch_accepting(uri, "*/*").await
    }

    /// Open a watch with an `Accept` header (kubectl's `get -w` asks for Tables).
    pub async fn watch_accepting(&self, uri: &str, accept: &str) -> WatchReader {
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK, "watch {uri}");
        WatchReader {
            body: StreamExt::boxed(response.into_body().into_data_stream()),
            buffer: Vec::new(),
        }
    }
}

pub struct WatchReader {
    body: futures::stream::BoxStream<'static, Result<bytes::Bytes, axum::Error>>,
    buffer: Vec<u8>,
}

impl WatchReader {
    /// The next event, or `None` when the stream ends or nothing comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).expect("each line is one JSON event"));
            }
            match tokio::time::timeout(wait, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("a watch event within 5 s")
    }

    /// True when the stream ends (rather than stalls) within `wait`.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        matches!(tokio::time::timeout(wait, self.body.next()).await, Ok(None))
    }
}

pub fn configmap(name: &str, data: Value) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

pub fn pod(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    })
}

/// The names of a list's items, in its order.
pub fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

pub fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .parse()
        .expect("number")
}

/// A namespaced custom resource, `widgets.example.com/v1` (short name `wd`), with a status
/// subresource or not, for tests that add a resource at run time.
pub fn widgets(status: bool) -> kubesim_apimachinery::registry::ResourceInfo {
    kubesim_apimachinery::registry::ResourceInfo {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: vec!["wd".into()],
        categories: vec![],
        subresources: kubesim_apimachinery::registry::Subresources {
            status,
            scale: false,
        },
        has_generation: true,
        storage_version: "v1".into(),
        schema_type: None,
    }
}
