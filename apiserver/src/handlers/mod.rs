//! Request handlers, one module per verb family, dispatched by path and method.

pub mod apply;
pub mod binding;
pub mod delete;
pub mod discovery;
pub mod eviction;
pub mod log;
pub mod metrics;
pub mod read;
pub mod reviews;
pub mod scale;
pub mod streaming;
pub mod watch;
pub mod write;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kubesim_apimachinery::{ApiError, ResourceInfo};

use crate::audit::Origin;
use crate::request::{MAX_BODY_BYTES, Query, user_agent};
use crate::response::ErrorResponse;
use crate::route::{self, Route, Target};
use crate::server::ApiServer;
use crate::storage::Key;

/// One API request, parsed.
pub struct Request {
    pub server: Arc<ApiServer>,
    pub target: Target,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Who sent it and what it asks, as the audit trail records its writes.
    pub origin: Origin,
}

impl Request {
    pub fn info(&self) -> &Arc<ResourceInfo> {
        &self.target.info
    }

    /// The namespace of the request (`""` for cluster-scoped resources).
    pub fn namespace(&self) -> &str {
        self.target.namespace.as_deref().unwrap_or("")
    }

    /// The storage key of the named object.
    pub fn key(&self, name: &str) -> Key {
        Key {
            resource: self.info().storage_key(),
            namespace: self.namespace().to_string(),
            name: name.to_string(),
        }
    }
}

/// Route every API path by the registry, then by method.
pub async fn dispatch(
    State(server): State<Arc<ApiServer>>,
    request: axum::extract::Request,
) -> Response {
    // Taken apart whole: the method, URI and headers extractors would each clone theirs.
    let (parts, body) = request.into_parts();
    let axum::http::request::Parts {
        method,
        uri,
        headers,
        ..
    } = parts;
    let Some(route) = route::parse(&server.registry, uri.path()) else {
        return ErrorResponse(ApiError::path_not_found()).into_response();
    };
    let target = match route {
        Route::CoreVersions => return discovery::core_versions(&server, &headers),
        Route::Groups => return discovery::groups(&server, &headers),
        Route::Group(group) => return discovery::group(&server, &group),
        Route::Resources { group, version } => {
            return discovery::resources(&server, &group, &version);
        }
        Route::Resource(target) => target,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return ErrorResponse(ApiError::too_large(MAX_BODY_BYTES)).into_response(),
    };
    let origin = Origin {
        user_agent: user_agent(&headers),
        verb: verb(&method, target.name.is_some()),
        subresource: target
            .subresource
            .as_deref()
            .and_then(known_subresource_name),
    };
    let request = Request {
        origin,
        query: Query::parse(uri.query()),
        server,
        target,
        headers,
        body,
    };
    let span = tracing::debug_span!("request", %method, path = uri.path());
    let _enter = span.enter();
    let deprecated = kubesim_apimachinery::registry::deprecation_warning(request.info());
    let response = route_verb(method, request)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    match deprecated {
        Some(warning) => warn_first(response, warning),
        None => response,
    }
}

/// Put `warning` before the response's other warnings: upstream adds a deprecation
/// warning before the request is handled, whatever comes of it.
fn warn_first(mut response: Response, warning: &str) -> Response {
    let others: Vec<_> = response
        .headers()
        .get_all("warning")
        .iter()
        .cloned()
        .collect();
    response.headers_mut().remove("warning");
    let mut response = crate::field_validation::with_warnings(response, &[warning.to_string()]);
    for other in others {
        response.headers_mut().append("warning", other);
    }
    response
}

async fn route_verb(method: Method, req: Request) -> Result<Response, ErrorResponse> {
    if req.info().group == metrics::GROUP {
        return metrics::handle(req, &method).await;
    }
    if kubesim_apimachinery::registry::is_review(req.info()) {
        return reviews::handle(&req);
    }
    let target = &req.target;
    let watch = target.watch_prefix || req.query.flag("watch")?.unwrap_or(false);
    if let Some(sub) = target.subresource.as_deref() {
        if !known_subresource(req.info(), sub) {
            return Err(ApiError::path_not_found().into());
        }
    }
    match (
        &method,
        target.name.as_deref(),
        target.subresource.as_deref(),
    ) {
        (&Method::GET, _, None) if watch => watch::watch(req).await,
        (_, _, _) if target.watch_prefix => {
            Err(ApiError::method_not_supported(req.info().as_ref(), "watch").into())
        }
        (&Method::GET, None, None) => read::list(req),
        (&Method::GET, Some(name), None | Some("status")) => read::get(&req, name),
        (&Method::GET, Some(name), Some("scale")) if req.info().subresources.scale => {
            scale::get(&req, name)
        }
        (&Method::POST, None, None) => write::create(req),
        (&Method::POST, Some(name), Some("binding")) if req.info().plural == "pods" => {
            binding::bind(&req, name)
        }
        (&Method::POST, Some(name), Some("eviction")) => eviction::evict(&req, name),
        (&Method::GET | &Method::POST, Some(name), Some(sub))
            if streaming::SUBRESOURCES.contains(&sub) =>
        {
            streaming::stream(&req, name, sub)
        }
        (&Method::GET, Some(name), Some("log")) => {
            let name = name.to_string();
            log::logs(req, &name).await
        }
        (&Method::PUT, Some(name), None | Some("status") | Some("finalize")) => {
            write::update(&req, name)
        }
        (&Method::PUT, Some(name), Some("scale")) if req.info().subresources.scale => {
            scale::update(&req, name)
        }
        (&Method::PATCH, Some(name), None | Some("status")) => write::patch(&req, name),
        (&Method::PATCH, Some(name), Some("scale")) if req.info().subresources.scale => {
            scale::patch(&req, name)
        }
        (&Method::DELETE, Some(name), None) => delete::delete(&req, name),
        (&Method::DELETE, None, None) => delete::delete_collection(&req),
        _ => Err(ApiError::method_not_supported(
            req.info().as_ref(),
            &method.as_str().to_lowercase(),
        )
        .into()),
    }
}

/// The Kubernetes verb of a request, as upstream's audit log and authorization name it
/// (a GET with `watch` is a `watch` there; only writes are recorded here).
fn verb(method: &Method, named: bool) -> &'static str {
    match (method, named) {
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        (_, true) => "get",
        (_, false) => "list",
    }
}

/// The subresources there are, by their names.
fn known_subresource_name(sub: &str) -> Option<&'static str> {
    ["status", "scale", "binding", "eviction", "log", "finalize"]
        .into_iter()
        .find(|known| *known == sub)
}

fn known_subresource(info: &ResourceInfo, sub: &str) -> bool {
    match sub {
        "status" => info.subresources.status,
        "scale" => info.subresources.scale,
        "binding" | "eviction" | "log" | "exec" | "attach" | "portforward" => {
            info.group.is_empty() && info.plural == "pods"
        }
        "finalize" => info.plural == "namespaces",
        _ => false,
    }
}
