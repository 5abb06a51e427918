//! API errors as `meta/v1 Status` objects, with upstream's reasons, codes and messages.
//!
//! The constructors mirror `k8s.io/apimachinery/pkg/api/errors` (`NewNotFound`,
//! `NewConflict`, `NewInvalid`, ...) so that the message a client prints is the one it
//! would print against a real cluster. Field errors mirror `pkg/util/validation/field`.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
pub use kube_core::response::reason;
use kube_core::response::{Status, StatusCause, StatusDetails};
use serde::Serialize;
use serde_json::Value;

/// A failed API request: the `Status` the server answers with, `code` as the HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.message)]
pub struct ApiError(pub Status);

/// The names an error message uses for a resource: `pods`, `deployments.apps`.
pub trait Qualified {
    /// The API group, `""` for core.
    fn group(&self) -> &str;
    /// The plural resource name.
    fn resource(&self) -> &str;
    /// The kind, as in `Deployment`.
    fn kind(&self) -> &str;
}

/// A fixed group, resource and kind to name in an error, for what is no registered
/// resource (options kinds, subresources):
/// `const PATCH_OPTIONS: GroupResourceKind = GroupResourceKind::new("meta.k8s.io", "patchoptions", "PatchOptions");`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupResourceKind {
    group: &'static str,
    resource: &'static str,
    kind: &'static str,
}

impl GroupResourceKind {
    /// `group` is `""` for core; `resource` is what `<resource>.<group>` messages show.
    pub const fn new(group: &'static str, resource: &'static str, kind: &'static str) -> Self {
        GroupResourceKind {
            group,
            resource,
            kind,
        }
    }
}

impl Qualified for GroupResourceKind {
    fn group(&self) -> &str {
        self.group
    }
    fn resource(&self) -> &str {
        self.resource
    }
    fn kind(&self) -> &str {
        self.kind
    }
}

fn group_resource(q: &dyn Qualified) -> String {
    if q.group().is_empty() {
        q.resource().to_string()
    } else {
        format!("{}.{}", q.resource(), q.group())
    }
}

fn group_kind(q: &dyn Qualified) -> String {
    if q.group().is_empty() {
        q.kind().to_string()
    } else {
        format!("{}.{}", q.kind(), q.group())
    }
}

impl ApiError {
    fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut status = Status::failure(&message, reason).with_code(code);
        status.metadata = Some(ListMeta::default());
        ApiError(status)
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.0.details = Some(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            uid: String::new(),
            causes: Vec::new(),
            retry_after_seconds: 0,
        });
        self
    }

    /// Add a cause to the details (which an error without details gains).
    pub fn with_cause(mut self, reason: &str, message: impl Into<String>, field: &str) -> Self {
        let details = self.0.details.get_or_insert_with(|| StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: Vec::new(),
            retry_after_seconds: 0,
        });
        details.causes.push(StatusCause {
            reason: reason.into(),
            message: message.into(),
            field: field.into(),
        });
        self
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        self.0.code
    }

    /// The machine-readable reason, such as `NotFound`.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// `pods "web" not found` (404).
    pub fn not_found(q: &dyn Qualified, name: &str) -> Self {
        Self::new(
            404,
            reason::NOT_FOUND,
            format!("{} \"{name}\" not found", group_resource(q)),
        )
        .with_details(q.group(), q.resource(), name)
    }

    /// `deployments.apps "web" already exists` (409).
    pub fn already_exists(q: &dyn Qualified, name: &str) -> Self {
        Self::new(
            409,
            reason::ALREADY_EXISTS,
            format!("{} \"{name}\" already exists", group_resource(q)),
        )
        .with_details(q.group(), q.resource(), name)
    }

    /// `Operation cannot be fulfilled on pods "web": <why>` (409).
    pub fn conflict(q: &dyn Qualified, name: &str, why: &str) -> Self {
        Self::new(
            409,
            reason::CONFLICT,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                group_resource(q)
            ),
        )
        .with_details(q.group(), q.resource(), name)
    }

    /// The optimistic-concurrency conflict of a write made against a stale resourceVersion.
    pub fn stale(q: &dyn Qualified, name: &str) -> Self {
        Self::conflict(
            q,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: ...` (422).
    pub fn invalid(q: &dyn Qualified, name: &str, errors: &[FieldError]) -> Self {
        let qualified = group_kind(q);
        let message = match errors {
            [] => format!("{qualified} \"{name}\" is invalid"),
            [one] => format!("{qualified} \"{name}\" is invalid: {one}"),
            many => {
                let all: Vec<String> = many.iter().map(ToString::to_string).collect();
                format!("{qualified} \"{name}\" is invalid: [{}]", all.join(", "))
            }
        };
        let mut err =
            Self::new(422, reason::INVALID, message).with_details(q.group(), q.kind(), name);
        if let Some(details) = err.0.details.as_mut() {
            details.causes = errors.iter().map(FieldError::cause).collect();
        }
        err
    }

    /// `pods "web" is forbidden: <why>` (403).
    pub fn forbidden(q: &dyn Qualified, name: &str, why: &str) -> Self {
        Self::new(
            403,
            reason::FORBIDDEN,
            format!("{} \"{name}\" is forbidden: {why}", group_resource(q)),
        )
        .with_details(q.group(), q.resource(), name)
    }

    /// A JSON patch that does not apply (422), as upstream's generic server response.
    pub fn patch_failed(why: impl Into<String>) -> Self {
        let mut err = Self::new(
            422,
            reason::INVALID,
            "the server rejected our request due to an error in our request",
        );
        err.0.details = Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: vec![StatusCause {
                reason: "UnexpectedServerResponse".into(),
                message: why.into(),
                field: String::new(),
            }],
            retry_after_seconds: 0,
        });
        err
    }

    /// A malformed request (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, reason::BAD_REQUEST, message)
    }

    /// A verb the resource does not support (405).
    pub fn method_not_supported(q: &dyn Qualified, action: &str) -> Self {
        Self::new(
            405,
            reason::METHOD_NOT_ALLOWED,
            format!(
                "{action} is not supported on resources of kind \"{}\"",
                group_resource(q)
            ),
        )
        .with_details(q.group(), q.resource(), "")
    }

    /// A watch or list from a resourceVersion older than the kept history (410).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, reason::EXPIRED, message)
    }

    /// A read at a resourceVersion the server has not reached (504), as upstream's
    /// `NewTooLargeResourceVersionError`.
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        let mut err = Self::new(
            504,
            reason::TIMEOUT,
            format!("Timeout: Too large resource version: {requested}, current: {current}"),
        );
        err.0.details = Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: vec![StatusCause {
                reason: "ResourceVersionTooLarge".into(),
                message: "Too large resource version".into(),
                field: String::new(),
            }],
            retry_after_seconds: 1,
        });
        err
    }

    /// A request body over the size limit (413).
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            reason::REQUEST_ENTITY_TOO_LARGE,
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// A body or patch in a format the endpoint does not take (415).
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, reason::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// Too many requests, such as an eviction a PodDisruptionBudget refuses (429).
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(429, reason::TOO_MANY_REQUESTS, message)
    }

    /// A path the server has no handler for (404).
    pub fn path_not_found() -> Self {
        let mut err = Self::new(
            404,
            reason::NOT_FOUND,
            "the server could not find the requested resource",
        );
        err.0.details = Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: vec![StatusCause {
                reason: "UnexpectedServerResponse".into(),
                message: "404 page not found".into(),
                field: String::new(),
            }],
            retry_after_seconds: 0,
        });
        err
    }

    /// An error upstream's handlers pass on without a Status (a strategic merge patch
    /// that does not apply): 500 with no reason and the error as message, as
    /// `ErrorToAPIStatus` answers it.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(500, "", message)
    }

    /// A fault of the server's own (500).
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(
            500,
            reason::INTERNAL_ERROR,
            format!("Internal error occurred: {cause}"),
        )
    }

    /// The `Status` as the JSON a client receives, with `kind` and `apiVersion`.
    pub fn to_json(&self) -> Value {
        status_json(&self.0)
    }
}

/// A `Status` object as JSON with `kind: Status` and `apiVersion: v1`, as upstream sends it.
pub fn status_json(status: &Status) -> Value {
    #[derive(Serialize)]
    struct Wire<'a> {
        kind: &'static str,
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        #[serde(flatten)]
        status: &'a Status,
    }
    serde_json::to_value(Wire {
        kind: "Status",
        api_version: "v1",
        status,
    })
    .unwrap_or(Value::Null)
}

/// The `Status` a successful delete of an object without a body to return answers with.
pub fn success(q: &dyn Qualified, name: &str, uid: &str) -> Value {
    let mut status = Status::success();
    status.metadata = Some(ListMeta::default());
    status.details = Some(StatusDetails {
        name: name.to_string(),
        group: q.group().to_string(),
        kind: q.resource().to_string(),
        uid: uid.to_string(),
        causes: Vec::new(),
        retry_after_seconds: 0,
    });
    status_json(&status)
}

/// What is wrong with a field, as `field.ErrorType` upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl FieldErrorType {
    fn text(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Internal => "Internal error",
        }
    }

    fn cause_reason(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Internal => "InternalError",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// Whether upstream prints the bad value in the message.
    fn shows_value(self) -> bool {
        !matches!(
            self,
            Self::Required | Self::Forbidden | Self::TooLong | Self::Internal
        )
    }
}

/// One invalid field, as `field.Error` upstream: `spec.replicas: Invalid value: -1: must be ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorType,
    /// The field's path, as `spec.containers[0].name`.
    pub field: String,
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    fn new(
        kind: FieldErrorType,
        field: impl Into<String>,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Required, field, None, detail)
    }

    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(FieldErrorType::Invalid, field, Some(value.into()), detail)
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Forbidden, field, None, detail)
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorType::Duplicate, field, Some(value.into()), "")
    }

    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorType::NotFound, field, Some(value.into()), "")
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        let detail = if list.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", list.join(", "))
        };
        Self::new(
            FieldErrorType::NotSupported,
            field,
            Some(value.into()),
            detail,
        )
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(
            FieldErrorType::TooLong,
            field,
            None,
            format!("must have at most {max} bytes"),
        )
    }

    /// The message without the field: `Invalid value: "x": must be ...`.
    pub fn body(&self) -> String {
        let mut s = self.kind.text().to_string();
        if self.kind.shows_value() {
            if let Some(value) = &self.value {
                s.push_str(": ");
                s.push_str(&format_value(value));
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    fn cause(&self) -> StatusCause {
        StatusCause {
            reason: self.kind.cause_reason().to_string(),
            message: self.body(),
            field: self.field.clone(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Values print as Go's `%q` / `%d` / `%v` would: strings quoted, numbers bare.
fn format_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENTS: GroupResourceKind =
        GroupResourceKind::new("apps", "deployments", "Deployment");

    #[test]
    fn messages_match_upstream() {
        assert_eq!(
            ApiError::not_found(&DEPLOYMENTS, "web").message(),
            "deployments.apps \"web\" not found"
        );
        let conflict = ApiError::stale(&DEPLOYMENTS, "web");
        assert_eq!(conflict.code(), 409);
        assert_eq!(
            conflict.message(),
            "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let invalid = ApiError::invalid(
            &DEPLOYMENTS,
            "web",
            &[FieldError::invalid(
                "spec.replicas",
                -1,
                "must be greater than or equal to 0",
            )],
        );
        assert_eq!(
            invalid.message(),
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let json = invalid.to_json();
        assert_eq!(json["kind"], "Status");
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["metadata"], serde_json::json!({}));
        assert_eq!(json["status"], "Failure");
        assert_eq!(json["code"], 422);
        assert_eq!(json["details"]["kind"], "Deployment");
        assert_eq!(json["details"]["causes"][0]["reason"], "FieldValueInvalid");
        assert_eq!(json["details"]["causes"][0]["field"], "spec.replicas");
    }

    #[test]
    fn several_field_errors_are_bracketed() {
        let err = ApiError::invalid(
            &DEPLOYMENTS,
            "web",
            &[
                FieldError::required("spec.selector", ""),
                FieldError::not_supported(
                    "spec.strategy.type",
                    "Fast",
                    &["Recreate", "RollingUpdate"],
                ),
            ],
        );
        assert_eq!(
            err.message(),
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.strategy.type: Unsupported value: \"Fast\": supported values: \"Recreate\", \"RollingUpdate\"]"
        );
    }
}
