//! Which namespaces a shipped line may claim. An ingest token names one
//! cluster; a line's `namespace` must be one of that cluster's namespaces,
//! or a shipper of one cluster could put lines in front of another cluster's
//! tenants (or invent namespaces no tenant owns).
//!
//! The inventory of each cluster is loaded from its Prometheus (by the
//! caller's loader), kept for a refresh interval, and queried again — at
//! most once per re-query interval — when a line names a namespace it does
//! not hold. A namespace still unknown is *pending* for a grace period (the
//! shipper is told to retry: a namespace created a moment ago reaches
//! kube-state-metrics and Prometheus within a scrape or two), then refused.

use periscope_model::{Error, ErrorKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Unknown namespaces remembered per cluster (first seen); past this, a new
/// unknown namespace is refused at once, so a flood of invented names holds
/// bounded memory.
const MAX_PENDING: usize = 1024;

/// Timings of the check.
#[derive(Debug, Clone, Copy)]
pub struct InventorySettings {
    /// How long a loaded inventory is used before it is loaded again.
    pub refresh_interval: Duration,
    /// Shortest time between two loads caused by unknown namespaces.
    pub requery_interval: Duration,
    /// How long an unknown namespace is pending (retry) before it is refused.
    pub grace: Duration,
}

/// What a namespace's lines get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A namespace of the cluster (or no namespace: cluster-level lines).
    Admitted,
    /// Unknown for less than the grace period: retry later.
    Pending,
    /// Unknown for longer than the grace period: refused.
    Refused,
}

/// The verdict on each namespace of one request.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    cluster: String,
    by_namespace: BTreeMap<String, Verdict>,
}

impl Verdicts {
    /// The verdict on `namespace` (lines without one are admitted).
    pub fn of(&self, namespace: &str) -> Verdict {
        self.by_namespace
            .get(namespace)
            .copied()
            .unwrap_or(Verdict::Admitted)
    }

    /// Whether lines of `namespace` may be stored.
    pub fn admits(&self, namespace: &str) -> bool {
        self.of(namespace) == Verdict::Admitted
    }

    /// The namespaces with `verdict`, sorted.
    pub fn with(&self, verdict: Verdict) -> impl Iterator<Item = &str> {
        self.by_namespace
            .iter()
            .filter(move |(_, v)| **v == verdict)
            .map(|(n, _)| n.as_str())
    }

    /// The error for the whole request when a namespace is pending: backend
    /// unavailable (502), which the shipper retries (nothing of the request is stored, so a retry
    /// duplicates nothing).
    pub fn pending_error(&self) -> Option<Error> {
        let pending: Vec<&str> = self.with(Verdict::Pending).collect();
        (!pending.is_empty()).then(|| {
            Error::new(
                ErrorKind::BackendUnavailable,
                format!(
                    "namespace {} not (yet) known in cluster {:?} (kube-state-metrics' \
                     namespaces in its Prometheus); nothing of this request was stored, retry \
                     shortly",
                    quoted(&pending),
                    self.cluster
                ),
            )
        })
    }

    /// Why the lines of a refused namespace were not stored.
    pub fn refusal(&self, namespace: &str) -> String {
        format!(
            "namespace {namespace:?} is not a namespace of cluster {:?}, the cluster of this \
             ingest token (kube-state-metrics' namespaces in its Prometheus)",
            self.cluster
        )
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each cluster's namespaces, loaded on demand.
pub struct NamespaceInventory {
    settings: InventorySettings,
    clusters: Mutex<HashMap<String, Arc<ClusterInventory>>>,
}

#[derive(Default)]
struct ClusterInventory {
    state: Mutex<InventoryState>,
    /// Held while loading, so concurrent requests share one load.
    load: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct InventoryState {
    namespaces: Option<Arc<HashSet<String>>>,
    loaded_at: Option<Instant>,
    /// Last load attempt, successful or not.
    queried_at: Option<Instant>,
    /// Why the last load failed, when it did.
    last_error: Option<String>,
    /// Unknown namespaces and when each was first seen.
    unknown_since: HashMap<String, Instant>,
}

impl InventoryState {
    fn fresh(&self, now: Instant, refresh: Duration) -> bool {
        self.loaded_at
            .is_some_and(|at| now.duration_since(at) < refresh)
    }

    fn knows_all<'a>(&self, mut wanted: impl Iterator<Item = &'a str>) -> bool {
        self.namespaces
            .as_ref()
            .is_some_and(|known| wanted.all(|n| known.contains(n)))
    }
}

impl NamespaceInventory {
    /// An empty inventory; clusters are loaded when their lines first arrive.
    pub fn new(settings: InventorySettings) -> Self {
        Self {
            settings,
            clusters: Mutex::new(HashMap::new()),
        }
    }

    fn cluster(&self, name: &str) -> Arc<ClusterInventory> {
        let mut clusters = self.clusters.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(clusters.entry(name.to_string()).or_default())
    }

    /// The verdict on each of `namespaces` (empty names are ignored) for
    /// lines of `cluster`. `load` lists the cluster's namespaces; it is
    /// called when the inventory is missing, older than the refresh
    /// interval, or lacks a namespace (then at most once per re-query
    /// interval). A failed load keeps the last inventory; with none, or with
    /// a namespace it cannot decide, the request is a retry (backend unavailable).
    pub async fn check<'a, F, Fut>(
        &self,
        cluster: &str,
        namespaces: impl IntoIterator<Item = &'a str>,
        load: F,
    ) -> Result<Verdicts, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<HashSet<String>, Error>>,
    {
        let wanted: std::collections::BTreeSet<&str> =
            namespaces.into_iter().filter(|n| !n.is_empty()).collect();
        let mut verdicts = Verdicts {
            cluster: cluster.to_string(),
            by_namespace: BTreeMap::new(),
        };
        if wanted.is_empty() {
            return Ok(verdicts);
        }
        let inventory = self.cluster(cluster);
        let settings = self.settings;
        {
            let state = inventory
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if state.fresh(Instant::now(), settings.refresh_interval)
                && state.knows_all(wanted.iter().copied())
            {
                return Ok(verdicts);
            }
        }
        let _loading = inventory.load.lock().await;
        let now = Instant::now();
        let must_load = {
            let state = inventory
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let knows_all = state.knows_all(wanted.iter().copied());
            let may_requery = state
                .queried_at
                .is_none_or(|at| now.duration_since(at) >= settings.requery_interval);
            may_requery
                && (state.namespaces.is_none()
                    || !knows_all
                    || !state.fresh(now, settings.refresh_interval))
        };
        if must_load {
            let loaded = load().await;
            let mut state = inventory
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.queried_at = Some(Instant::now());
            match loaded {
                Ok(namespaces) => {
                    state.unknown_since.retain(|n, _| !namespaces.contains(n));
                    state.namespaces = Some(Arc::new(namespaces));
                    state.loaded_at = Some(Instant::now());
                    state.last_error = None;
                }
                Err(e) => {
                    tracing::warn!(cluster, error = %e, "cannot load the cluster's namespaces; keeping the last inventory");
                    state.last_error = Some(e.message().to_string());
                }
            }
        }
        let mut state = inventory
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(known) = state.namespaces.clone() else {
            let why = state.last_error.clone().unwrap_or_default();
            return Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!(
                    "cannot check the lines' namespaces: cluster {cluster:?}'s namespaces could \
                     not be loaded from its Prometheus ({why}); nothing was stored, retry shortly"
                ),
            ));
        };
        let now = Instant::now();
        for namespace in wanted {
            let verdict = if known.contains(namespace) {
                Verdict::Admitted
            } else if state.last_error.is_some() {
                // The inventory could not be asked about it: undecided.
                Verdict::Pending
            } else {
                state.unknown_verdict(namespace, now, settings.grace)
            };
            verdicts.by_namespace.insert(namespace.to_string(), verdict);
        }
        Ok(verdicts)
    }
}

impl InventoryState {
    /// Pending while within the grace period of its first sighting.
    fn unknown_verdict(&mut self, namespace: &str, now: Instant, grace: Duration) -> Verdict {
        if !self.unknown_since.contains_key(namespace) && self.unknown_since.len() >= MAX_PENDING {
            self.unknown_since
                .retain(|_, since| now.duration_since(*since) < grace);
            if self.unknown_since.len() >= MAX_PENDING {
                return Verdict::Refused;
            }
        }
        let since = *self
            .unknown_since
            .entry(namespace.to_string())
            .or_insert(now);
        if now.duration_since(since) < grace {
            Verdict::Pending
        } else {
            Verdict::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings(grace: Duration, requery: Duration) -> InventorySettings {
        InventorySettings {
            refresh_interval: Duration::from_secs(60),
            requery_interval: requery,
            grace,
        }
    }

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[tokio::test]
    async fn known_namespaces_are_admitted_and_loaded_once() {
        let inventory = NamespaceInventory::new(settings(Duration::ZERO, Duration::ZERO));
        let loads = AtomicUsize::new(0);
        for _ in 0..3 {
            let v = inventory
                .check("c1", ["team-a", "", "team-b"], || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    Ok(set(&["team-a", "team-b"]))
                })
                .await
                .unwrap();
            assert_eq!(v.of("team-a"), Verdict::Admitted);
            assert_eq!(v.of(""), Verdict::Admitted);
            assert!(v.pending_error().is_none());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unknown_namespace_is_pending_then_refused() {
        let inventory = NamespaceInventory::new(settings(Duration::from_secs(300), Duration::ZERO));
        let v = inventory
            .check("c1", ["team-a", "ghost"], || async { Ok(set(&["team-a"])) })
            .await
            .unwrap();
        assert_eq!(v.of("ghost"), Verdict::Pending);
        let error = v.pending_error().unwrap();
        assert_eq!(error.kind(), ErrorKind::BackendUnavailable);
        assert!(error.message().contains("\"ghost\""), "{}", error.message());

        let strict = NamespaceInventory::new(settings(Duration::ZERO, Duration::ZERO));
        let v = strict
            .check("c1", ["team-a", "ghost"], || async { Ok(set(&["team-a"])) })
            .await
            .unwrap();
        assert_eq!(v.of("ghost"), Verdict::Refused);
        assert_eq!(v.with(Verdict::Refused).collect::<Vec<_>>(), ["ghost"]);
        assert!(v.refusal("ghost").contains("cluster \"c1\""));
    }

    #[tokio::test]
    async fn an_unknown_namespace_requeries_but_at_most_once_per_interval() {
        let inventory = NamespaceInventory::new(settings(
            Duration::from_secs(300),
            Duration::from_secs(3600),
        ));
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(set(&["team-a"]))
        };
        for _ in 0..5 {
            inventory.check("c1", ["ghost"], load).await.unwrap();
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);

        // With no interval, each unknown sighting asks again and a namespace
        // that has appeared meanwhile is admitted.
        let inventory = NamespaceInventory::new(settings(Duration::from_secs(300), Duration::ZERO));
        let v = inventory
            .check("c1", ["fresh"], || async { Ok(set(&["team-a"])) })
            .await
            .unwrap();
        assert_eq!(v.of("fresh"), Verdict::Pending);
        let v = inventory
            .check("c1", ["fresh"], || async { Ok(set(&["team-a", "fresh"])) })
            .await
            .unwrap();
        assert_eq!(v.of("fresh"), Verdict::Admitted);
    }

    #[tokio::test]
    async fn a_failed_load_is_a_retry_never_a_refusal() {
        let inventory = NamespaceInventory::new(settings(Duration::ZERO, Duration::ZERO));
        let down = || async {
            Err(Error::new(
                ErrorKind::BackendUnavailable,
                "connection refused",
            ))
        };
        let error = inventory.check("c1", ["team-a"], down).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BackendUnavailable);
        assert!(
            error.message().contains("connection refused"),
            "{}",
            error.message()
        );

        inventory
            .check("c1", ["team-a"], || async { Ok(set(&["team-a"])) })
            .await
            .unwrap();
        // Prometheus down again: known namespaces still pass, an unknown one
        // is undecided (retry), not refused, although the grace is zero.
        let v = inventory
            .check("c1", ["team-a", "new"], down)
            .await
            .unwrap();
        assert_eq!(v.of("team-a"), Verdict::Admitted);
        assert_eq!(v.of("new"), Verdict::Pending);
    }

    #[tokio::test]
    async fn clusters_have_their_own_inventories() {
        let inventory = NamespaceInventory::new(settings(Duration::ZERO, Duration::ZERO));
        inventory
            .check("c1", ["team-a"], || async { Ok(set(&["team-a"])) })
            .await
            .unwrap();
        let v = inventory
            .check("c2", ["team-a"], || async { Ok(set(&["team-b"])) })
            .await
            .unwrap();
        assert_eq!(v.of("team-a"), Verdict::Refused);
    }

    #[test]
    fn pending_names_are_bounded() {
        let mut state = InventoryState::default();
        let now = Instant::now();
        let grace = Duration::from_secs(300);
        for i in 0..MAX_PENDING {
            assert_eq!(
                state.unknown_verdict(&format!("n{i}"), now, grace),
                Verdict::Pending
            );
        }
        assert_eq!(
            state.unknown_verdict("one-more", now, grace),
            Verdict::Refused
        );
        assert_eq!(state.unknown_since.len(), MAX_PENDING);
    }
}
