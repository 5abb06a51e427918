//! Turning results into HTTP responses: objects as JSON bytes, errors as `Status`.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kubesim_apimachinery::ApiError;
use serde_json::Value;

/// An [`ApiError`] as the response upstream would send: the `Status` object, its code.
pub struct ErrorResponse(pub ApiError);

impl From<ApiError> for ErrorResponse {
    fn from(err: ApiError) -> Self {
        ErrorResponse(err)
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_bytes(code, Bytes::from(self.0.to_json().to_string()))
    }
}

/// Already-serialized JSON.
pub fn json_bytes(code: StatusCode, bytes: Bytes) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON value.
pub fn json(code: StatusCode, value: &Value) -> Response {
    json_bytes(code, Bytes::from(value.to_string()))
}

pub type Result<T = Response, E = ErrorResponse> = std::result::Result<T, E>;
