//! OTLP/gRPC ingest:
//! `opentelemetry.proto.collector.trace.v1.TraceService/Export`, and
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` for Kubernetes
//! events from the Collector's `k8s_events` and `k8sobjects` receivers; authenticated
//! with an ingest token in the `authorization` metadata, answered once the
//! spans are durable. Unusable spans are counted in `partial_success`;
//! overload is RESOURCE_EXHAUSTED with `RetryInfo` (retryable, as OTLP says).

use crate::error::to_status;
use crate::state::AppState;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsService;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use periscope_model::{Error, ErrorKind};
use periscope_traces::otlp;
use std::sync::Arc;
use tonic::{Code, Request, Response, Status};

pub(crate) struct OtlpTraces {
    pub(crate) state: Arc<AppState>,
}

pub(crate) struct OtlpLogs {
    pub(crate) state: Arc<AppState>,
}

/// The shipper an ingest token in the `authorization` metadata identifies,
/// and an ingest slot (RESOURCE_EXHAUSTED when none is free).
fn admit<T>(
    state: &AppState,
    request: &Request<T>,
) -> Result<
    (
        Arc<periscope_tenancy::Shipper>,
        tokio::sync::OwnedSemaphorePermit,
    ),
    Status,
> {
    let authorization = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let shipper = state
        .ingest_auth
        .authenticate(authorization)
        .map_err(status)?;
    let permit = Arc::clone(&state.ingest_slots)
        .try_acquire_owned()
        .map_err(|_| {
            status(Error::new(
                ErrorKind::TooManyRequests,
                "too many ingest requests in flight; retry shortly",
            ))
        })?;
    Ok((shipper, permit))
}

#[tonic::async_trait]
impl LogsService for OtlpLogs {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let state = &self.state;
        let (shipper, _permit) = admit(state, &request)?;
        let answer = crate::http::store_otlp_logs(state, &shipper.cluster, request.get_ref())
            .await
            .map_err(status)?;
        Ok(Response::new(answer))
    }
}

/// A gRPC status for an ingest error; overload carries `RetryInfo`.
fn status(e: Error) -> Status {
    match e.kind() {
        ErrorKind::TooManyRequests => Status::with_details(
            Code::ResourceExhausted,
            e.message(),
            otlp::retry_status(otlp::RESOURCE_EXHAUSTED, e.message(), 1).into(),
        ),
        _ => to_status(e),
    }
}

#[tonic::async_trait]
impl TraceService for OtlpTraces {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let state = &self.state;
        let (shipper, _permit) = admit(state, &request)?;
        let service = state
            .trace_service(Some(&shipper.cluster))
            .map_err(status)?;
        let decoded = otlp::spans(request.into_inner(), &state.place_attributes);
        let answer = decoded.response();
        service.ingest(decoded.spans).await.map_err(status)?;
        Ok(Response::new(answer))
    }
}
