//! The one place where an [`ErrorKind`] becomes an HTTP status or a gRPC code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use periscope_model::{Error, ErrorKind};

/// HTTP status for each kind.
pub fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::LimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::TooManyRequests | ErrorKind::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::BackendUnavailable => StatusCode::BAD_GATEWAY,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// gRPC code for each kind.
pub fn grpc_code(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::BadRequest | ErrorKind::PayloadTooLarge => tonic::Code::InvalidArgument,
        ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorKind::Forbidden => tonic::Code::PermissionDenied,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::MethodNotAllowed => tonic::Code::Unimplemented,
        ErrorKind::LimitExceeded | ErrorKind::TooManyRequests | ErrorKind::QuotaExceeded => {
            tonic::Code::ResourceExhausted
        }
        ErrorKind::BackendUnavailable => tonic::Code::Unavailable,
        ErrorKind::Timeout => tonic::Code::DeadlineExceeded,
        ErrorKind::Internal => tonic::Code::Internal,
    }
}

/// An error answered in Prometheus' JSON error shape:
/// `{"status":"error","errorType":"...","error":"..."}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        let body = serde_json::json!({
            "status": "error",
            "errorType": kind.prometheus_error_type(),
            "error": self.0.message(),
        });
        with_hint_headers((http_status(kind), axum::Json(body)).into_response(), kind)
    }
}

/// An error answered as Loki answers them: the message as plain text.
#[derive(Debug)]
pub struct LokiError(pub Error);

impl From<Error> for LokiError {
    fn from(e: Error) -> Self {
        LokiError(e)
    }
}

impl From<ApiError> for LokiError {
    fn from(e: ApiError) -> Self {
        LokiError(e.0)
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        let body = format!("{}\n", self.0.message());
        with_hint_headers((http_status(kind), body).into_response(), kind)
    }
}

/// Adds what tells a client how to proceed after an error of `kind`:
/// `Retry-After` for back-pressure, `WWW-Authenticate` for missing credentials.
/// Every error shape (Prometheus', Elasticsearch's, OTLP's, Jaeger's) uses it.
pub fn with_hint_headers(mut response: Response, kind: ErrorKind) -> Response {
    match kind {
        ErrorKind::TooManyRequests => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        ErrorKind::Unauthenticated => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"periscope\", Basic realm=\"periscope\""),
            );
        }
        _ => {}
    }
    response
}

/// Converts an error into a gRPC status.
pub fn to_status(e: Error) -> tonic::Status {
    tonic::Status::new(grpc_code(e.kind()), e.message().to_string())
}
