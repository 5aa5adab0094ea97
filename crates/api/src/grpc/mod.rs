//! gRPC services: `periscope.v1.Metrics`, `periscope.v1.Monitoring`,
//! `periscope.v1.Alerting`, `periscope.v1.Logs`, `periscope.v1.Traces`,
//! `periscope.v1.Events` and `periscope.v1.Audit`,
//! OTLP trace ingest, plus
//! standard health and reflection (`grpc.reflection.v1` and `v1alpha`, which
//! older clients such as Python grpcio's and Evans speak).

mod alerting;
mod logs;
mod metrics;
mod monitoring;
mod otlp;
mod records;
mod traces;

use crate::state::AppState;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use periscope_proto::v1::alerting_server::AlertingServer;
use periscope_proto::v1::audit_server::AuditServer;
use periscope_proto::v1::events_server::EventsServer;
use periscope_proto::v1::logs_server::LogsServer;
use periscope_proto::v1::metrics_server::MetricsServer;
use periscope_proto::v1::monitoring_server::MonitoringServer;
use periscope_proto::v1::traces_server::TracesServer;
use std::sync::Arc;
use tonic::service::Routes;

/// Every gRPC service, ready to serve.
pub async fn routes(state: Arc<AppState>) -> Result<Routes, tonic_reflection::server::Error> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<MetricsServer<metrics::MetricsService>>()
        .await;
    health_reporter
        .set_serving::<MonitoringServer<monitoring::MonitoringService>>()
        .await;
    health_reporter
        .set_serving::<AlertingServer<alerting::AlertingService>>()
        .await;
    health_reporter
        .set_serving::<LogsServer<logs::LogsService>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(periscope_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (otlp, otlp_logs) = (otlp_service(&state), otlp_logs_service(&state));
    let mut builder = Routes::builder();
    builder
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(otlp)
        .add_service(otlp_logs)
        .add_service(MetricsServer::new(metrics::MetricsService {
            state: Arc::clone(&state),
        }))
        .add_service(MonitoringServer::new(monitoring::MonitoringService {
            state: Arc::clone(&state),
        }))
        .add_service(LogsServer::new(logs::LogsService {
            state: Arc::clone(&state),
        }))
        .add_service(TracesServer::new(traces::TracesService {
            state: Arc::clone(&state),
        }))
        .add_service(EventsServer::new(records::EventsService {
            state: Arc::clone(&state),
        }))
        .add_service(AuditServer::new(records::AuditService {
            state: Arc::clone(&state),
        }))
        .add_service(AlertingServer::new(alerting::AlertingService { state }));
    Ok(builder.routes())
}

/// OTLP trace ingest, bounded by the ingest body limit, gzip accepted.
fn otlp_service(state: &Arc<AppState>) -> TraceServiceServer<otlp::OtlpTraces> {
    TraceServiceServer::new(otlp::OtlpTraces {
        state: Arc::clone(state),
    })
    .max_decoding_message_size(state.config.ingest.max_body_bytes)
    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
}

/// OTLP log ingest (Kubernetes events), bounded and compressed alike.
fn otlp_logs_service(state: &Arc<AppState>) -> LogsServiceServer<otlp::OtlpLogs> {
    LogsServiceServer::new(otlp::OtlpLogs {
        state: Arc::clone(state),
    })
    .max_decoding_message_size(state.config.ingest.max_body_bytes)
    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
}

/// The routes of the OTLP/gRPC-only listener.
pub fn otlp_routes(state: Arc<AppState>) -> Routes {
    Routes::new(otlp_service(&state)).add_service(otlp_logs_service(&state))
}
