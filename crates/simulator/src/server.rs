//! The simulator's HTTP server: one path per exporter.

use crate::{render, Cluster, Exporter};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

struct Simulation {
    cluster: Cluster,
    start: f64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Serves `/metrics/node-exporter`, `/metrics/cadvisor` and
/// `/metrics/kube-state-metrics` for `cluster` on `listener` until `shutdown`
/// resolves. Counters started at Unix time `origin` (pass the start of any
/// backfilled history so the counters continue it), or now when `None`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cluster: Cluster,
    origin: Option<f64>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let simulation = Arc::new(Simulation {
        cluster,
        start: origin.unwrap_or_else(unix_now),
    });
    let mut router = Router::new();
    for exporter in Exporter::ALL {
        router = router.route(
            &format!("/metrics/{}", exporter.name()),
            get(move |State(sim): State<Arc<Simulation>>| async move {
                let body = render(&sim.cluster, exporter, sim.start, unix_now());
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
                    .into_response()
            }),
        );
    }
    axum::serve(listener, router.with_state(simulation))
        .with_graceful_shutdown(shutdown)
        .await
}
