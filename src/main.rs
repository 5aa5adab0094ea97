//! `periscope`: one binary for every Periscope service.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use periscope_api::{Server, Services};
use periscope_config::Config;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

mod demo;

#[derive(Parser)]
#[command(
    name = "periscope",
    version,
    about = "Multi-tenant observability backend for Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the APIs described by a configuration file.
    Serve {
        /// Configuration file (TOML). `PERISCOPE_*` variables override its keys.
        #[arg(long, env = "PERISCOPE_CONFIG", default_value = "periscope.toml")]
        config: PathBuf,
        /// Which services to run.
        #[arg(long, value_enum, default_value_t = Target::All)]
        target: Target,
    },
    /// Validate a configuration file and explain every problem found.
    CheckConfig {
        /// Configuration file (TOML).
        file: PathBuf,
    },
    /// Serve simulated node-exporter, cAdvisor and kube-state-metrics `/metrics`
    /// of a cluster, deterministic from a seed.
    Simulate {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:9500")]
        listen: String,
        /// Seed of the cluster's topology.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of nodes.
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// Also ship the pods' container logs to this `_bulk` URL, as
        /// Fluent Bit's `es` output would (e.g. http://127.0.0.1:9480/_bulk).
        #[arg(long)]
        ship_logs: Option<String>,
        /// Also export the requests' traces to this OTLP/HTTP URL, as an
        /// OpenTelemetry SDK would (e.g. http://127.0.0.1:9480/v1/traces).
        #[arg(long)]
        ship_traces: Option<String>,
        /// Ingest token for `--ship-logs` (the Basic password) and
        /// `--ship-traces` (Bearer).
        #[arg(long, env = "PERISCOPE_INGEST_TOKEN")]
        ingest_token: Option<String>,
    },
    /// Start the cluster simulator, a local Prometheus scraping it (with an hour
    /// of history) and Periscope in front of it, and print what to try.
    Demo {
        /// HTTP listen address for Periscope.
        #[arg(long, default_value = "127.0.0.1:9480")]
        http_listen: String,
        /// gRPC listen address for Periscope.
        #[arg(long, default_value = "127.0.0.1:9481")]
        grpc_listen: String,
    },
}

/// Services selectable with `--target`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Every service.
    All,
    /// The query service (Prometheus-compatible API, drill-down API, gRPC).
    Query,
    /// The alerting service (rule evaluation, alerts to Alertmanager, the
    /// rules and alerts APIs), with the APIs it serves.
    Alerting,
    /// The events service: event ingest, storage and search, with the query API.
    Events,
    /// The audit service: the audit webhook, storage and search, with the query API.
    Audit,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Serve { config, target } => {
            runtime().and_then(|rt| rt.block_on(serve(config, target)))
        }
        Command::Simulate {
            listen,
            seed,
            nodes,
            ship_logs,
            ship_traces,
            ingest_token,
        } => {
            let shipping = Shipping {
                logs: ship_logs,
                traces: ship_traces,
                token: ingest_token.unwrap_or_default(),
            };
            runtime().and_then(|rt| rt.block_on(simulate(listen, seed, nodes, shipping)))
        }
        Command::Demo {
            http_listen,
            grpc_listen,
        } => runtime().and_then(|rt| rt.block_on(demo::run(http_listen, grpc_listen))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("periscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr. `PERISCOPE_LOG` takes a level or `target=level` list (e.g.
/// `info,periscope_api=debug`); `PERISCOPE_LOG_FORMAT=json` switches to JSON lines.
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // `Targets` rather than `EnvFilter`: the latter pulls in a regex-automata
    // feature that makes every regex compile (PromQL `=~` matchers) ~5x slower.
    let filter: tracing_subscriber::filter::Targets = std::env::var("PERISCOPE_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        });
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("PERISCOPE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().finish().with(filter).init();
    } else {
        builder.finish().with(filter).init();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(file, &process_env())?;
    println!(
        "{}: ok ({} cluster(s), {} workspace(s), {} principal(s))",
        file.display(),
        config.clusters.len(),
        config.workspaces.len(),
        config.principals.len()
    );
    Ok(())
}

async fn serve(path: PathBuf, target: Target) -> anyhow::Result<()> {
    let config = Config::load(&path, &process_env())?;
    let services = Services {
        alerting: matches!(target, Target::All | Target::Alerting),
        events: matches!(target, Target::All | Target::Events),
        audit: matches!(target, Target::All | Target::Audit),
    };
    if services.alerting && config.alerting.is_none() {
        tracing::info!("no [alerting] section: rules are not evaluated");
    }
    let server = Server::bind_services(config, services).await?;
    tracing::info!(http = %server.http_addr(), grpc = %server.grpc_addr(), "periscope listening");
    if let Some(a) = server.otlp_http_addr() {
        tracing::info!(otlp_http = %a, "OTLP/HTTP listening");
    }
    if let Some(a) = server.otlp_grpc_addr() {
        tracing::info!(otlp_grpc = %a, "OTLP/gRPC listening");
    }
    server.run(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Where the simulator ships its pods' logs and traces.
struct Shipping {
    logs: Option<String>,
    traces: Option<String>,
    token: String,
}

async fn simulate(
    listen: String,
    seed: u64,
    nodes: usize,
    shipping: Shipping,
) -> anyhow::Result<()> {
    use periscope_simulator::{Cluster, ClusterSpec};
    let spec = ClusterSpec {
        seed,
        nodes,
        ..ClusterSpec::default()
    };
    let cluster = Cluster::generate(&spec);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "Simulating {} (seed {seed}).\nScrape with honor_labels, e.g.:\n\nscrape_configs:",
        cluster.summary()
    );
    print!("{}", periscope_simulator::scrape_jobs(&addr.to_string()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let every = std::time::Duration::from_secs(2);
    if let Some(url) = shipping.logs {
        println!("Shipping container logs to {url} every 2 s.");
        let (cluster, token) = (cluster.clone(), shipping.token.clone());
        tokio::spawn(periscope_simulator::ship_logs(
            cluster,
            url,
            token,
            now,
            every,
            std::future::pending(),
        ));
    }
    if let Some(url) = shipping.traces {
        println!("Exporting traces to {url} every 2 s.");
        let (cluster, token) = (cluster.clone(), shipping.token.clone());
        tokio::spawn(periscope_simulator::ship_traces(
            cluster,
            url,
            token,
            now,
            every,
            std::future::pending(),
        ));
    }
    periscope_simulator::serve(listener, cluster, None, shutdown_signal()).await?;
    Ok(())
}
