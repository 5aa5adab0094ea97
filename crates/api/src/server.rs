//! Binding and running the HTTP and gRPC listeners with graceful shutdown.

use crate::state::AppState;
use crate::{discovery, grpc, http};
use periscope_config::Config;
use periscope_model::{Error, Result};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Entry point for running Periscope's API.
pub struct Server;

/// Which services a process runs besides the query API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Services {
    /// Evaluate rules and send alerts (when `[alerting]` is configured).
    pub alerting: bool,
    /// Ingest, store and search Kubernetes events.
    pub events: bool,
    /// Ingest, store and search audit records (Periscope's own writes included).
    pub audit: bool,
}

impl Services {
    /// Every service.
    pub const ALL: Services = Services {
        alerting: true,
        events: true,
        audit: true,
    };
}

/// Listeners bound and state built; call [`BoundServer::run`] to serve.
pub struct BoundServer {
    state: Arc<AppState>,
    http: TcpListener,
    grpc: TcpListener,
    /// OTLP-only listeners, when configured.
    otlp_http: Option<TcpListener>,
    otlp_grpc: Option<TcpListener>,
}

async fn bind(address: &str) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| Error::internal(format!("cannot listen on {address}: {e}")))
}

async fn bind_optional(address: &Option<String>) -> Result<Option<TcpListener>> {
    match address {
        Some(a) => bind(a).await.map(Some),
        None => Ok(None),
    }
}

impl Server {
    /// Builds the state and binds both listeners (port 0 picks a free port).
    /// When workspace discovery is configured, the first refresh is attempted
    /// here so scopes are complete before the first request.
    pub async fn bind(config: Config) -> Result<BoundServer> {
        Self::bind_services(config, Services::ALL).await
    }

    /// Like [`Server::bind`], running only the given services.
    pub async fn bind_services(config: Config, services: Services) -> Result<BoundServer> {
        let listen = config.server.clone();
        let discovery = config.workspace_discovery.clone();
        let state = Arc::new(AppState::from_config(config, services)?);
        if services.alerting {
            if let Some(service) = crate::alerting::AlertingService::build(&state)? {
                let _ = state.alerting.set(service);
            }
        }
        let http = bind(&listen.http_listen).await?;
        let grpc = bind(&listen.grpc_listen).await?;
        let otlp_http = bind_optional(&listen.otlp_http_listen).await?;
        let otlp_grpc = bind_optional(&listen.otlp_grpc_listen).await?;
        if let Some(d) = &discovery {
            match discovery::refresh(&state, d).await {
                Ok(n) => tracing::info!(namespaces = n, "workspace membership discovered"),
                Err(e) => {
                    tracing::warn!(error = %e, "initial workspace discovery failed; will retry")
                }
            }
        }
        Ok(BoundServer {
            state,
            http,
            grpc,
            otlp_http,
            otlp_grpc,
        })
    }
}

impl BoundServer {
    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The bound OTLP/HTTP-only address, when configured.
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        self.otlp_http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound OTLP/gRPC-only address, when configured.
    pub fn otlp_grpc_addr(&self) -> Option<SocketAddr> {
        self.otlp_grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        if let Some(d) = self.state.config.workspace_discovery.clone() {
            tokio::spawn(discovery::run(Arc::clone(&self.state), d, stop_rx.clone()));
        }
        if let Some(alerting) = self.state.alerting.get() {
            tokio::spawn(Arc::clone(&alerting.engine).run(stopped(stop_rx.clone())));
            let (outbox, dispatcher) = (
                Arc::clone(&alerting.outbox),
                Arc::clone(&alerting.dispatcher),
            );
            let until_stopped = stopped(stop_rx.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = outbox.run() => {}
                    _ = dispatcher.run() => {}
                    _ = until_stopped => {}
                }
            });
            #[cfg(unix)]
            tokio::spawn(reload_on_sighup(Arc::clone(&self.state)));
        }
        let mut stores =
            crate::logs::run_stores(&self.state.logs, || Box::pin(stopped(stop_rx.clone())));
        stores.extend(
            self.state
                .traces
                .stores
                .iter()
                .chain(&self.state.records.stores)
                .map(|store| tokio::spawn(Arc::clone(store).run(stopped(stop_rx.clone())))),
        );
        for (generator, url) in &self.state.traces.span_metrics {
            let writer = periscope_alerting::RemoteWriter::new(url).map_err(Error::internal)?;
            tokio::spawn(generator.clone().run(writer, stopped(stop_rx.clone())));
        }
        let http_router = http::router(Arc::clone(&self.state));
        // Responses stream in several writes; without TCP_NODELAY the last small
        // write waits for the client's delayed ACK (tens of milliseconds).
        let listener =
            axum::serve::ListenerExt::tap_io(self.http, |tcp: &mut tokio::net::TcpStream| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
            });
        let http_server =
            axum::serve(listener, http_router).with_graceful_shutdown(stopped(stop_rx.clone()));
        let grpc_routes = grpc::routes(Arc::clone(&self.state))
            .await
            .map_err(|e| Error::internal(format!("building gRPC reflection: {e}")))?;
        let incoming =
            tonic::transport::server::TcpIncoming::from(self.grpc).with_nodelay(Some(true));
        let grpc_server = tonic::transport::Server::builder()
            .timeout(std::time::Duration::from_secs(300))
            .add_routes(grpc_routes)
            .serve_with_incoming_shutdown(incoming, stopped(stop_rx.clone()));
        let mut otlp_servers = Vec::new();
        if let Some(listener) = self.otlp_http {
            let router = http::otlp_router(Arc::clone(&self.state));
            let server =
                axum::serve(listener, router).with_graceful_shutdown(stopped(stop_rx.clone()));
            otlp_servers.push(tokio::spawn(async move {
                server.await.map_err(|e| format!("OTLP/HTTP server: {e}"))
            }));
        }
        if let Some(listener) = self.otlp_grpc {
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let server = tonic::transport::Server::builder()
                .add_routes(grpc::otlp_routes(Arc::clone(&self.state)))
                .serve_with_incoming_shutdown(incoming, stopped(stop_rx.clone()));
            otlp_servers.push(tokio::spawn(async move {
                server.await.map_err(|e| format!("OTLP/gRPC server: {e}"))
            }));
        }
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        });
        let (h, g) = tokio::join!(http_server, grpc_server);
        for server in otlp_servers {
            if let Ok(Err(e)) = server.await {
                tracing::error!(error = %e, "an OTLP listener failed");
            }
        }
        // The stores flush what they hold in memory before the process ends.
        for store in stores {
            let _ = store.await;
        }
        h.map_err(|e| Error::internal(format!("http server: {e}")))?;
        g.map_err(|e| Error::internal(format!("grpc server: {e}")))?;
        Ok(())
    }
}

/// Reloads the alerting rules on every SIGHUP, as Prometheus does.
#[cfg(unix)]
async fn reload_on_sighup(state: Arc<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /-/reload");
        return;
    };
    while hangups.recv().await.is_some() {
        if let Some(alerting) = state.alerting.get() {
            if let Err(e) = alerting.reload() {
                tracing::error!(error = %e, "reloading the alerting rules failed; the running rules are unchanged");
            }
        }
    }
}
