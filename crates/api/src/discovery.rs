//! What kube-state-metrics says about namespaces: live workspace membership
//! (`kube_namespace_labels`' workspace label), and each cluster's namespaces,
//! which shipped log lines may claim.

use crate::state::AppState;
use periscope_config::WorkspaceDiscoveryConfig;
use periscope_model::Result;
use periscope_tenancy::{Membership, Verdicts};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

/// Queries Prometheus once and replaces the discovered membership.
pub(crate) async fn refresh(state: &AppState, config: &WorkspaceDiscoveryConfig) -> Result<usize> {
    let cluster = state.cluster(config.cluster.as_deref())?;
    let query = format!(
        "max by (namespace, {label}) ({metric}{{{label}!=\"\"}})",
        label = config.workspace_label,
        metric = config.metric
    );
    let samples = cluster.prometheus.instant_vector(&query).await?;
    let mut membership = Membership::new();
    for s in samples {
        if let (Some(ns), Some(ws)) = (
            s.metric.get("namespace"),
            s.metric.get(&config.workspace_label),
        ) {
            membership.entry(ws.clone()).or_default().insert(ns.clone());
        }
    }
    let count = membership.values().map(|n| n.len()).sum();
    state.scopes.set_discovered(&membership);
    Ok(count)
}

/// Refreshes periodically until `shutdown` changes. Failures keep the last
/// known membership and are logged.
pub(crate) async fn run(
    state: Arc<AppState>,
    config: WorkspaceDiscoveryConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(config.refresh_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first refresh already happened at start-up
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match refresh(&state, &config).await {
                    Ok(n) => tracing::debug!(namespaces = n, "workspace membership refreshed"),
                    Err(e) => tracing::warn!(error = %e, "workspace discovery failed; keeping the last membership"),
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// The verdict on each namespace the lines of `cluster`'s shipper claim
/// (see [`periscope_tenancy::ingest`]); everything is admitted when
/// `[ingest.namespace_check]` is off.
pub(crate) async fn check_line_namespaces<'a>(
    state: &AppState,
    cluster: &str,
    namespaces: impl IntoIterator<Item = &'a str>,
) -> Result<Verdicts> {
    let check = &state.config.ingest.namespace_check;
    if !check.enabled {
        return Ok(Verdicts::default());
    }
    let prometheus = &state.cluster(Some(cluster))?.prometheus;
    state
        .namespaces
        .check(cluster, namespaces, || async {
            let query = format!(
                "count by (namespace) (last_over_time({}[{}s]))",
                check.metric,
                check.lookback.as_secs().max(1)
            );
            let samples = prometheus.instant_vector(&query).await?;
            Ok(samples
                .into_iter()
                .filter_map(|s| s.metric.get("namespace").cloned())
                .collect::<HashSet<String>>())
        })
        .await
}
