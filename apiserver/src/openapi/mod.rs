//! OpenAPI: `/openapi/v3` (the list of group-version documents) and
//! `/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>` (one document each), as
//! upstream's `kube-openapi/pkg/handler3` serves them; and the answer for `/openapi/v2`.
//!
//! Each document is generated from the registry on first request and kept, with its hash,
//! until the group-version's resources change (a CustomResourceDefinition added or
//! removed). The root lists each document as `serverRelativeURL:
//! /openapi/v3/apis/apps/v1?hash=<hash>`; a request with the current hash is answered as
//! immutable (`Cache-Control: public, immutable`, a year's `Expires`), one with a stale
//! hash is redirected to the current URL, and `If-None-Match` with the `ETag` gets `304`.
//!
//! `/openapi/v2` is not served (404). kubectl asks for it only as protobuf, and only when
//! v3 cannot answer: to validate `kind: List` files client-side (`kubectl apply -f` of a
//! List fails under the default `--validate=strict`; `--validate=false` works) and as a
//! fallback for apply's patch computation (which then uses its compiled-in types).
//! A JSON document there would break those clients (they parse the body as protobuf),
//! while a 404 is an error they report or skip.

pub mod schemas;
pub mod v3;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kubesim_apimachinery::{ApiError, Registry, ResourceInfo};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::response::ErrorResponse;
use crate::server::ApiServer;

/// A generated group-version document.
#[derive(Debug)]
pub struct Document {
    /// The resources it was generated from; a different set means a new document.
    resources: Vec<ResourceInfo>,
    pub body: Bytes,
    /// Upper-case hex hash of `body`: the `hash` of its URL and its `ETag`.
    pub hash: String,
}

/// Generated documents, by group-version path (`api/v1`, `apis/apps/v1`).
#[derive(Debug, Default)]
pub struct Cache {
    documents: Mutex<HashMap<String, Arc<Document>>>,
}

impl Cache {
    /// The document of the group-version at `path`, generated now if the registry's
    /// resources for it changed since (or it was never generated); `None` if the
    /// group-version is not served.
    pub fn document(&self, registry: &Registry, path: &str) -> Option<Arc<Document>> {
        let (group, version) = parse_group_version(path)?;
        let resources: Vec<ResourceInfo> = registry
            .all()
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .map(|r| r.as_ref().clone())
            .collect();
        if resources.is_empty() {
            return None;
        }
        if let Some(doc) = self.documents.lock().get(path)
            && doc.resources == resources
        {
            return Some(doc.clone());
        }
        // Generated outside the lock: two first requests may both generate, and the
        // documents are equal.
        let started = std::time::Instant::now();
        let value = v3::document(group, version, &resources);
        let body = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let hash = hash(&body);
        tracing::debug!(path, bytes = body.len(), elapsed = ?started.elapsed(), "generated OpenAPI v3 document");
        let doc = Arc::new(Document {
            resources,
            body,
            hash,
        });
        self.documents.lock().insert(path.to_string(), doc.clone());
        Some(doc)
    }
}

/// `api/v1` → ("", "v1"); `apis/apps/v1` → ("apps", "v1").
fn parse_group_version(path: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["api", version] => Some(("", version)),
        ["apis", group, version] => Some((group, version)),
        _ => None,
    }
}

/// The path of a group-version under `/openapi/v3/`.
fn group_version_path(info: &ResourceInfo) -> String {
    info.group_version_path()
        .trim_start_matches('/')
        .to_string()
}

/// A 64-bit FNV-1a hash in hex: only compared for equality, to bust clients' caches.
/// (Upstream uses SHA-512; any hash that changes with the document does the same job.)
fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// `GET /openapi/v3`.
pub async fn root(State(server): State<Arc<ApiServer>>, headers: HeaderMap) -> Response {
    let mut seen: Vec<String> = Vec::new();
    let mut paths = Map::new();
    for info in server.registry.all() {
        let path = group_version_path(&info);
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        if let Some(doc) = server.openapi.document(&server.registry, &path) {
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash)}),
            );
        }
    }
    let body = Bytes::from(
        Value::Object(Map::from_iter([(
            "paths".to_string(),
            Value::Object(paths),
        )]))
        .to_string(),
    );
    let etag = hash(&body);
    respond(&headers, body, &etag, "application/json", None)
}

/// `GET /openapi/v3/<group-version path>`.
pub async fn group_version(
    State(server): State<Arc<ApiServer>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri
        .path()
        .trim_start_matches("/openapi/v3/")
        .trim_end_matches('/')
        .to_string();
    let Some(doc) = server.openapi.document(&server.registry, &path) else {
        return ErrorResponse(ApiError::path_not_found()).into_response();
    };
    if !accepts_json(&headers) {
        // Upstream also serves protobuf here; kubectl and client-go ask for JSON.
        return StatusCode::NOT_ACCEPTABLE.into_response();
    }
    let requested_hash = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "hash")
            .map(|(_, v)| v.into_owned())
    });
    let immutable = match requested_hash {
        Some(h) if h != doc.hash => {
            // A URL from an older root: send the client to the current document.
            let location = format!("/openapi/v3/{path}?hash={}", doc.hash);
            let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            return response;
        }
        Some(_) => true,
        None => false,
    };
    let cache_for = immutable.then(|| Duration::from_secs(365 * 24 * 3600));
    respond(
        &headers,
        doc.body.clone(),
        &doc.hash,
        "application/json",
        cache_for,
    )
}

/// `GET /openapi/v2`: not served (see the module doc).
pub async fn v2() -> Response {
    ErrorResponse(ApiError::path_not_found()).into_response()
}

/// A document with its `ETag`; `304` when the client has it already.
fn respond(
    headers: &HeaderMap,
    body: Bytes,
    etag: &str,
    content_type: &'static str,
    immutable_for: Option<Duration>,
) -> Response {
    let quoted = format!("\"{etag}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == quoted || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(body))
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if let Ok(value) = HeaderValue::from_str(&quoted) {
        h.insert(header::ETAG, value);
    }
    if let Some(ttl) = immutable_for {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        let expires = httpdate(SystemTime::now() + ttl);
        if let Ok(value) = HeaderValue::from_str(&expires) {
            h.insert(header::EXPIRES, value);
        }
    }
    response
}

/// Whether the `Accept` header allows JSON (absent means anything).
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|clause| {
        let media = clause.split(';').next().unwrap_or("").trim();
        matches!(media, "application/json" | "application/*" | "*/*" | "")
    })
}

/// An HTTP date (`Tue, 15 Nov 1994 08:12:31 GMT`), as `Expires` takes.
fn httpdate(at: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_cached_until_the_group_version_changes() {
        let registry = Registry::with_builtins();
        let cache = Cache::default();
        let first = cache.document(&registry, "apis/apps/v1").expect("apps/v1");
        let again = cache.document(&registry, "apis/apps/v1").expect("apps/v1");
        assert!(Arc::ptr_eq(&first, &again));
        assert!(cache.document(&registry, "apis/nope/v1").is_none());
        let mut widget = registry
            .get("apps", "v1", "deployments")
            .map(|r| r.as_ref().clone())
            .expect("deployments");
        widget.plural = "widgets".into();
        widget.kind = "Widget".into();
        registry.add(widget);
        let changed = cache.document(&registry, "apis/apps/v1").expect("apps/v1");
        assert_ne!(first.hash, changed.hash);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            httpdate(SystemTime::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}
