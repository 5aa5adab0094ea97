//! The extractor every trace route (Jaeger's and Tempo's APIs) starts from.

use super::extract::ClusterName;
use crate::state::{within, AppState, Caller};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use periscope_model::{Error, Result};
use periscope_traces::TraceService;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// What every route works with: the caller, its cluster's trace service and
/// the query parameters; failures answered in the error shape `E` of the API
/// version the route belongs to.
pub(crate) struct Traced<E> {
    pub caller: Caller,
    pub service: TraceService,
    pub params: Vec<(String, String)>,
    /// The caller's query slot, held until the answer is built.
    _slot: OwnedSemaphorePermit,
    timeout: Duration,
    shape: PhantomData<E>,
}

impl<E: From<Error> + IntoResponse> FromRequestParts<Arc<AppState>> for Traced<E> {
    type Rejection = E;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> std::result::Result<Self, E> {
        let ClusterName(cluster) = ClusterName::from_request_parts(parts, state)
            .await
            .map_err(|e| E::from(e.0))?;
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = state.caller(authorization)?;
        let service = state.trace_service(cluster.as_deref())?.clone();
        let (slot, timeout) = state.query_slot(&caller)?;
        let params = form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Ok(Traced {
            caller,
            service,
            params,
            _slot: slot,
            timeout,
            shape: PhantomData,
        })
    }
}

impl<E> Traced<E> {
    /// `work` within the caller's query timeout.
    pub async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        within(self.timeout, "trace query", work).await
    }

    /// The first non-empty value of one of `names`.
    pub fn param(&self, names: &[&str]) -> Option<String> {
        self.params
            .iter()
            .find(|(k, v)| names.contains(&k.as_str()) && !v.is_empty())
            .map(|(_, v)| v.clone())
    }
}
