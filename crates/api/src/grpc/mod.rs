//! gRPC services: `periscope.v1.Metrics`, `periscope.v1.Monitoring` and
//! `periscope.v1.Alerting` and `periscope.v1.Logs`, plus
//! standard health and reflection.

mod alerting;
mod logs;
mod metrics;
mod monitoring;

use crate::state::AppState;
use periscope_proto::v1::alerting_server::AlertingServer;
use periscope_proto::v1::logs_server::LogsServer;
use periscope_proto::v1::metrics_server::MetricsServer;
use periscope_proto::v1::monitoring_server::MonitoringServer;
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
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(periscope_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let mut builder = Routes::builder();
    builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(MetricsServer::new(metrics::MetricsService {
            state: Arc::clone(&state),
        }))
        .add_service(MonitoringServer::new(monitoring::MonitoringService {
            state: Arc::clone(&state),
        }))
        .add_service(LogsServer::new(logs::LogsService {
            state: Arc::clone(&state),
        }))
        .add_service(AlertingServer::new(alerting::AlertingService { state }));
    Ok(builder.routes())
}
