//! Health, version, and the operator endpoints that are not part of the Kubernetes API.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::response::json;
use crate::server::ApiServer;

/// `/healthz`, `/livez`, `/readyz`: `ok`, as upstream answers.
pub async fn healthz() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        "ok",
    )
        .into_response()
}

/// The Kubernetes version kubesim models.
pub const KUBERNETES_VERSION: &str = "v1.35.0";

/// `/version`, as Helm and `kubectl version` read it.
pub async fn version() -> Response {
    json(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": "35",
            "emulationMajor": "1",
            "emulationMinor": "35",
            "gitVersion": KUBERNETES_VERSION,
            "gitCommit": concat!("kubesim-", env!("CARGO_PKG_VERSION")),
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.25.0",
            "compiler": "gc",
            "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
        }),
    )
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `POST /kubesim/v1/compact`: forget the watch history and end every watch, as an etcd
/// compaction followed by an API server restart would. Watchers that resume from an
/// older resourceVersion get `410 Expired` and must relist — a way to show, and test,
/// how clients recover.
pub async fn compact(State(server): State<Arc<ApiServer>>) -> Response {
    server.storage.compact();
    let revision = server.storage.revision();
    tracing::info!(revision, "watch history compacted");
    json(
        StatusCode::OK,
        &json!({"compactedRevision": revision.to_string()}),
    )
}
