//! Health, version, and the operator endpoints that are not part of the Kubernetes API.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::response::json;
use crate::server::ApiServer;

/// The health endpoints, each with its checks one by one (`/readyz/ping`).
pub fn health_routes(router: axum::Router<Arc<ApiServer>>) -> axum::Router<Arc<ApiServer>> {
    use axum::extract::Path;
    use axum::routing::get;
    [Health::Healthz, Health::Livez, Health::Readyz]
        .into_iter()
        .fold(router, |router, h| {
            router
                .route(
                    &format!("/{}", h.name()),
                    get(move |s: State<Arc<ApiServer>>, uri: axum::http::Uri| health(s, h, uri)),
                )
                .route(
                    &format!("/{}/{{*check}}", h.name()),
                    get(
                        move |s: State<Arc<ApiServer>>, Path(check): Path<String>| async move {
                            health_check(s, h, &check).await
                        },
                    ),
                )
        })
}

/// Which health endpoint: upstream's `healthz`, `livez`, `readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthz,
    Livez,
    Readyz,
}

impl Health {
    fn name(self) -> &'static str {
        match self {
            Health::Healthz => "healthz",
            Health::Livez => "livez",
            Health::Readyz => "readyz",
        }
    }

    /// The checks kubesim has, named as upstream names its own: the server answers
    /// (`ping`), logging works (`log`), the system priority classes were made (done as
    /// the server is built, as upstream's post-start hook), and, for `readyz` only, that
    /// the server is not shutting down (`shutdown`).
    fn checks(self) -> &'static [&'static str] {
        const CHECKS: [&str; 4] = [
            "ping",
            "log",
            "poststarthook/scheduling/bootstrap-system-priority-classes",
            "shutdown",
        ];
        match self {
            Health::Readyz => &CHECKS,
            _ => &CHECKS[..3],
        }
    }
}

/// Whether `check` passes on `server` now.
fn passes(server: &ApiServer, check: &str) -> bool {
    check != "shutdown" || !*server.stopping.borrow()
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `/healthz`, `/livez`, `/readyz` as upstream's handler answers: `ok`, or with
/// `?verbose` each check (`[+]ping ok`) and `readyz check passed`; `?exclude=name`
/// skips a check (`[+]name excluded: ok`); a failed check is `[-]name failed: reason
/// withheld`, listed whatever the query, with a 500 and `readyz check failed`.
pub async fn health(
    State(server): State<Arc<ApiServer>>,
    health: Health,
    uri: axum::http::Uri,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let verbose = pairs.iter().any(|(k, _)| k == "verbose");
    let mut excluded: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "exclude")
        .map(|(_, v)| v.clone())
        .collect();
    let mut out = String::new();
    let mut failed = false;
    for &check in health.checks() {
        if let Some(i) = excluded.iter().position(|e| e == check) {
            excluded.remove(i);
            out.push_str(&format!("[+]{check} excluded: ok\n"));
        } else if passes(&server, check) {
            out.push_str(&format!("[+]{check} ok\n"));
        } else {
            failed = true;
            out.push_str(&format!("[-]{check} failed: reason withheld\n"));
        }
    }
    if !excluded.is_empty() {
        let quoted: Vec<String> = excluded.iter().map(|e| format!("{e:?}")).collect();
        out.push_str(&format!(
            "warn: some health checks cannot be excluded: no matches for {}\n",
            quoted.join(",")
        ));
    }
    let name = health.name();
    if failed {
        out.push_str(&format!("{name} check failed"));
        return text(StatusCode::INTERNAL_SERVER_ERROR, out);
    }
    if !verbose {
        return text(StatusCode::OK, "ok".into());
    }
    out.push_str(&format!("{name} check passed\n"));
    text(StatusCode::OK, out)
}

/// One check alone (`/readyz/ping`): `ok`, or a 500 saying it failed; 404 for a check
/// there is not.
pub async fn health_check(
    State(server): State<Arc<ApiServer>>,
    health: Health,
    check: &str,
) -> Response {
    if !health.checks().contains(&check) {
        return text(StatusCode::NOT_FOUND, "404 page not found\n".into());
    }
    if passes(&server, check) {
        text(StatusCode::OK, "ok".into())
    } else {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error: {check} check failed\n"),
        )
    }
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
