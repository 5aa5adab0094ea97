use std::fmt;

/// Result alias used across Periscope.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in the terms a client can act on. Each kind maps to one HTTP
/// status and one gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed (bad PromQL, bad parameter, duplicated parameter).
    BadRequest,
    /// No credentials, or credentials that match no principal.
    Unauthenticated,
    /// The principal is known but the request reaches outside its scope.
    Forbidden,
    /// No such route or resource.
    NotFound,
    /// The route exists but not for this HTTP method.
    MethodNotAllowed,
    /// The request body is larger than allowed.
    PayloadTooLarge,
    /// The request is well-formed but exceeds a per-principal limit.
    LimitExceeded,
    /// Too many concurrent requests for this principal.
    TooManyRequests,
    /// A tenant already holds as many stored objects of a kind (rule groups,
    /// receivers, silences) as its limits allow; retrying will not help.
    QuotaExceeded,
    /// The backend answered with an error of its own or could not be reached.
    BackendUnavailable,
    /// The backend did not answer in time.
    Timeout,
    /// A bug or an invariant violation inside Periscope.
    Internal,
}

impl ErrorKind {
    /// The Prometheus `errorType` string for this kind.
    pub fn prometheus_error_type(self) -> &'static str {
        match self {
            ErrorKind::BadRequest | ErrorKind::PayloadTooLarge => "bad_data",
            ErrorKind::Unauthenticated => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::LimitExceeded => "execution",
            ErrorKind::TooManyRequests | ErrorKind::QuotaExceeded => "too_many_requests",
            ErrorKind::BackendUnavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error with its kind and a message meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    /// An error of `kind` with a client-facing `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Its client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shorthand for [`ErrorKind::BadRequest`].
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// Shorthand for [`ErrorKind::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// Shorthand for [`ErrorKind::Unauthenticated`].
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }

    /// Shorthand for [`ErrorKind::LimitExceeded`].
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitExceeded, message)
    }

    /// Shorthand for [`ErrorKind::PayloadTooLarge`].
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PayloadTooLarge, message)
    }

    /// Shorthand for [`ErrorKind::QuotaExceeded`].
    pub fn quota(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::QuotaExceeded, message)
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}
