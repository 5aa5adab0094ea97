//! Request extractors: the authenticated caller and the selected cluster.

use crate::error::ApiError;
use crate::state::{AppState, Caller};
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::sync::Arc;

/// The caller, authenticated from the `Authorization` header only.
pub(crate) struct Authenticated(pub Caller);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        Ok(Authenticated(state.caller(header)?))
    }
}

/// The cluster named by a `/clusters/{cluster}/...` path, or `None` for the default.
pub(crate) struct ClusterName(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClusterName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Nested routers see the URI with their prefix stripped; the cluster
        // segment is only in the original URI.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        let name = uri
            .path()
            .strip_prefix("/clusters/")
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string);
        Ok(ClusterName(name))
    }
}
