//! The drill-down operation shared by the HTTP and gRPC surfaces: authorise
//! the selection against the caller's scope, narrow the catalog templates to
//! it, evaluate them batched (several metrics per Prometheus query) and in
//! parallel (bounded), and assemble the page.

use crate::query::{check_range, decode_query};
use crate::state::{AppState, Caller, Cluster};
use futures::StreamExt;
use periscope_backend_prometheus::{Method, QueryData};
use periscope_config::Limits;
use periscope_model::{Error, ErrorKind, Result, Scope};
use periscope_monitoring::{
    assemble, sum_by_workspace, Assembly, DrillDown, Filters, Level, MetricDef, NameFilter, Page,
    Placeholder, Resource, Selection, Series, Window,
};
use periscope_tenancy::Membership;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Filters with more values than this are applied to results rather than
/// pushed into queries, so queries stay small.
const MAX_PUSHED_VALUES: usize = 100;
/// The label that tells the metrics of a batched query apart.
const METRIC_LABEL: &str = "periscope_metric";
/// Batch key of the level's inventory query.
const INVENTORY: &str = "__inventory";

/// What one evaluated query gave: series, or why not.
type Outcome = std::result::Result<Vec<Series>, Error>;

impl AppState {
    /// One page of the drill-down API.
    pub(crate) async fn drill_down(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        request: DrillDown,
    ) -> Result<Page> {
        let selection = &request.selection;
        let level = selection.level;
        let membership = self.scopes.membership();
        let namespaces = allowed_namespaces(&caller.scope, &membership, selection)?;
        let defs = self.selected_metrics(level, &request.metrics)?;
        if let Some(sort) = &request.sort {
            if !defs.iter().any(|d| d.name == sort.metric) {
                return Err(Error::bad_request(format!(
                    "invalid parameter \"sort_metric\": {:?} is not one of the requested metrics",
                    sort.metric
                )));
            }
        }
        check_window(request.window, &caller.principal.limits)?;

        let mut namespaces = namespaces;
        if level == Level::Namespace {
            if let NameFilter::Names(names) = &request.resources {
                let wanted: BTreeSet<String> = names.iter().cloned().collect();
                namespaces = Some(match namespaces {
                    Some(allowed) => allowed.intersection(&wanted).cloned().collect(),
                    None => wanted,
                });
            }
        }
        let filters = push_down(selection, &request.resources, namespaces.as_ref());

        let mut jobs: Vec<(String, String)> = Vec::new();
        if !namespaces.as_ref().is_some_and(BTreeSet::is_empty) {
            if let Some(inventory) = self.catalog.inventory(level) {
                jobs.push((
                    INVENTORY.to_string(),
                    inventory.render_for(&filters, &cluster.span_metric_names),
                ));
            }
            for d in &defs {
                jobs.push((
                    d.name.clone(),
                    d.template.render_for(&filters, &cluster.span_metric_names),
                ));
            }
        }
        let mut results = self
            .evaluate_batched(caller, cluster, jobs, request.window, request.latest)
            .await?;
        for series in results.values_mut().flat_map(|r| r.iter_mut()).flatten() {
            cluster.span_metric_names.rename_back(&mut series.labels);
        }

        let resources = match level {
            Level::Cluster => vec![Resource {
                name: cluster.name.clone(),
                labels: BTreeMap::new(),
            }],
            Level::Workspace => workspaces(
                &membership,
                namespaces.as_ref(),
                selection,
                &request.resources,
            ),
            _ => {
                let inventory = match results.remove(INVENTORY) {
                    Some(outcome) => outcome?,
                    None => Vec::new(),
                };
                inventory_resources(
                    inventory,
                    &membership,
                    namespaces.as_ref(),
                    selection,
                    &request.resources,
                )
            }
        };
        if selection.names_one() && resources.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no such {level} in cluster {:?}", cluster.name),
            ));
        }

        let workspace_of: HashMap<String, String> = if level == Level::Workspace {
            resources
                .iter()
                .flat_map(|r| {
                    membership
                        .get(&r.name)
                        .into_iter()
                        .flatten()
                        .map(|ns| (ns.clone(), r.name.clone()))
                })
                .collect()
        } else {
            HashMap::new()
        };
        let metrics = defs
            .into_iter()
            .map(|d| {
                let outcome = match results.remove(&d.name) {
                    Some(Ok(series)) if level == Level::Workspace => {
                        Ok(sum_by_workspace(&series, &workspace_of))
                    }
                    Some(Ok(series)) => Ok(series),
                    Some(Err(e)) => Err(e.message().to_string()),
                    None => Ok(Vec::new()),
                };
                (d, outcome)
            })
            .collect();
        Ok(assemble(Assembly {
            cluster: &cluster.name,
            level,
            resources,
            metrics,
            window: request.window,
            sort: request.sort.as_ref(),
            paging: request.paging,
            link_nodes: matches!(caller.scope, Scope::ClusterWide),
        }))
    }

    /// The catalog metrics of `level` that `filter` selects; unknown names are
    /// an error.
    fn selected_metrics(&self, level: Level, filter: &NameFilter) -> Result<Vec<&MetricDef>> {
        if let NameFilter::Names(names) = filter {
            return names
                .iter()
                .map(|n| {
                    self.catalog
                        .get(n)
                        .filter(|d| d.level == level)
                        .ok_or_else(|| {
                            Error::bad_request(format!(
                                "invalid parameter \"metrics\": {n:?} is not a {level} metric"
                            ))
                        })
                })
                .collect();
        }
        let defs: Vec<&MetricDef> = self
            .catalog
            .level(level)
            .filter(|d| filter.matches(&d.name))
            .collect();
        if defs.is_empty() {
            return Err(Error::bad_request(format!(
                "invalid parameter \"metrics\": matches no {level} metric"
            )));
        }
        Ok(defs)
    }

    /// Evaluates every `(key, query)`: several per Prometheus query (told apart
    /// by a label), at most `parallel_queries` at a time, under one of the
    /// caller's concurrency permits. A batch that fails is retried metric by
    /// metric, so one bad query only fails itself. With `latest`, an instant
    /// window may be answered by another viewer's evaluation of moments ago.
    pub(crate) async fn evaluate_batched(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        jobs: Vec<(String, String)>,
        window: Window,
        latest: bool,
    ) -> Result<HashMap<String, Outcome>> {
        let _permit = self.limiter.try_acquire(
            &caller.principal.name,
            caller.principal.limits.max_concurrent_queries,
        )?;
        let batches = self.batches(jobs);
        let parallel = self.config.monitoring.parallel_queries;
        let outcomes: Vec<Vec<(String, Outcome)>> = futures::stream::iter(batches)
            .map(|batch| self.evaluate_batch(caller, cluster, batch, window, latest))
            .buffer_unordered(parallel)
            .collect()
            .await;
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Groups jobs so that each combined query stays within the admission
    /// bounds and `metrics_per_query`.
    fn batches(&self, jobs: Vec<(String, String)>) -> Vec<Vec<(String, String)>> {
        let per_query = self.config.monitoring.metrics_per_query;
        let mut batches: Vec<Vec<(String, String)>> = Vec::new();
        for job in jobs {
            let fits = batches.last().is_some_and(|last| {
                last.len() < per_query && {
                    let mut candidate = last.clone();
                    candidate.push(job.clone());
                    self.enforcer.admits(&combine(&candidate))
                }
            });
            match batches.last_mut() {
                Some(last) if fits => last.push(job),
                _ => batches.push(vec![job]),
            }
        }
        batches
    }

    async fn evaluate_batch(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        batch: Vec<(String, String)>,
        window: Window,
        latest: bool,
    ) -> Vec<(String, Outcome)> {
        match self
            .evaluate(caller, cluster, &combine(&batch), window, latest)
            .await
        {
            Ok(series) => split_by_metric(series, batch.into_iter().map(|(k, _)| k)),
            Err(e) if batch.len() == 1 => batch
                .into_iter()
                .map(|(k, _)| (k, Err(e.clone())))
                .collect(),
            Err(_) => {
                let mut out = Vec::new();
                for (key, query) in batch {
                    let outcome = self.evaluate(caller, cluster, &query, window, latest).await;
                    out.push((key, outcome));
                }
                out
            }
        }
    }

    /// Enforces and evaluates one query, or takes the answer another viewer's
    /// identical request got (see [`periscope_monitoring::SharedResults`]).
    async fn evaluate(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        query: &str,
        window: Window,
        latest: bool,
    ) -> Outcome {
        let limits = &caller.principal.limits;
        let query = self.enforcer.enforce_query(query, &caller.scope, limits)?;
        let timeout = self.effective_timeout(caller, None)?;
        let mut params = vec![("query".to_string(), query.into_owned())];
        let path = match window {
            Window::Instant { time } => {
                params.push(("time".into(), time.to_string()));
                "/api/v1/query"
            }
            Window::Range { start, end, step } => {
                params.push(("start".into(), start.to_string()));
                params.push(("end".into(), end.to_string()));
                params.push(("step".into(), step.to_string()));
                "/api/v1/query_range"
            }
        };
        // The key is the request Prometheus gets, scope matchers included:
        // only callers who would ask the very same thing share an answer.
        // (Length-prefixed parts: no two requests spell the same key.)
        let mut key = String::new();
        let parts = [cluster.name.as_str(), path]
            .into_iter()
            .chain(params.iter().flat_map(|(name, value)| match name.as_str() {
                "time" if latest => [name.as_str(), "latest"],
                _ => [name.as_str(), value.as_str()],
            }));
        for part in parts {
            key.push_str(&part.len().to_string());
            key.push(':');
            key.push_str(part);
        }
        params.push(("timeout".into(), format!("{}ms", timeout.as_millis())));
        // Bounded by this caller's timeout also when it waits for another's
        // evaluation of the same query.
        let shared = self.shared_results.get_or_evaluate(key, async {
            let response = self
                .upstream(cluster, Method::Post, path, params, timeout)
                .await?;
            let status = response.status;
            let body = response.bytes().await?;
            Ok(series_of(decode_query(status, &body)?.data))
        });
        let series = crate::state::within(timeout, "query", shared).await?;
        Ok(Arc::unwrap_or_clone(series))
    }
}

/// The series of a decoded query answer.
fn series_of(data: Option<QueryData>) -> Vec<Series> {
    match data {
        Some(QueryData::Vector(v)) => v
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                samples: vec![(s.value.0, parse_value(&s.value.1))],
            })
            .collect(),
        Some(QueryData::Matrix(m)) => m
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                samples: s.values.iter().map(|p| (p.0, parse_value(&p.1))).collect(),
            })
            .collect(),
        Some(QueryData::Scalar(p)) => vec![Series {
            labels: BTreeMap::new(),
            samples: vec![(p.0, parse_value(&p.1))],
        }],
        Some(QueryData::String(_)) | None => Vec::new(),
    }
}

fn parse_value(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

/// `label_replace(q1, "periscope_metric", "k1", "", "") or ...`.
fn combine(batch: &[(String, String)]) -> String {
    batch
        .iter()
        .map(|(key, query)| {
            format!("label_replace({query}, \"{METRIC_LABEL}\", \"{key}\", \"\", \"\")")
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Splits a batched result back into each key's series (label removed).
fn split_by_metric(
    series: Vec<Series>,
    keys: impl Iterator<Item = String>,
) -> Vec<(String, Outcome)> {
    let mut by_key: HashMap<String, Vec<Series>> = keys.map(|k| (k, Vec::new())).collect();
    for mut s in series {
        if let Some(list) = s
            .labels
            .remove(METRIC_LABEL)
            .and_then(|k| by_key.get_mut(&k))
        {
            s.labels.remove("__name__");
            list.push(s);
        }
    }
    by_key.into_iter().map(|(k, v)| (k, Ok(v))).collect()
}

/// Checks the route against the caller's scope. Returns the namespaces the
/// selection is restricted to (`None`: all of the cluster's).
pub(crate) fn allowed_namespaces(
    scope: &Scope,
    membership: &Membership,
    selection: &Selection,
) -> Result<Option<BTreeSet<String>>> {
    let in_scope = |ns: &str| match scope {
        Scope::ClusterWide => true,
        Scope::Namespaces(set) => set.contains(ns),
    };
    let cluster_view =
        matches!(selection.level, Level::Cluster | Level::Node) || selection.node.is_some();
    if cluster_view && !matches!(scope, Scope::ClusterWide) {
        return Err(Error::forbidden(
            "the cluster and node views need cluster-wide access",
        ));
    }
    let mut restriction: Option<BTreeSet<String>> = match scope {
        Scope::ClusterWide => None,
        Scope::Namespaces(set) => Some(set.iter().cloned().collect()),
    };
    if let Some(ws) = &selection.workspace {
        let members = membership.get(ws);
        let visible = members.is_some_and(|m| !m.is_empty() && m.iter().all(|ns| in_scope(ns)));
        if !visible {
            return Err(match scope {
                Scope::ClusterWide => {
                    Error::new(ErrorKind::NotFound, format!("no such workspace {ws:?}"))
                }
                Scope::Namespaces(_) => {
                    Error::forbidden(format!("workspace {ws:?} is not in your scope"))
                }
            });
        }
        restriction = members.cloned();
    }
    if selection.level == Level::Workspace && selection.workspace.is_none() {
        let visible: BTreeSet<String> = membership
            .values()
            .filter(|m| !m.is_empty() && m.iter().all(|ns| in_scope(ns)))
            .flatten()
            .cloned()
            .collect();
        restriction = Some(visible);
    }
    if let Some(ns) = &selection.namespace {
        if !in_scope(ns) {
            return Err(Error::forbidden(format!(
                "namespace {ns:?} is not in your scope"
            )));
        }
        restriction = Some(BTreeSet::from([ns.clone()]));
    }
    Ok(restriction)
}

/// The filters pushed into the templates: the route's resources, the
/// namespace restriction and an exact `resources` list, when small.
fn push_down(
    selection: &Selection,
    resources: &NameFilter,
    namespaces: Option<&BTreeSet<String>>,
) -> Filters {
    let mut filters = Filters::default();
    if let Some(ns) = namespaces {
        if !ns.is_empty() && ns.len() <= MAX_PUSHED_VALUES {
            filters.set(Placeholder::Namespace, ns.iter().cloned().collect());
        }
    }
    if let Some(node) = &selection.node {
        filters.set(Placeholder::Node, vec![node.clone()]);
    }
    if let Some(pod) = &selection.pod {
        filters.set(Placeholder::Pod, vec![pod.clone()]);
    }
    if let Some(service) = &selection.service {
        filters.set(Placeholder::Service, vec![service.clone()]);
    }
    let own = match selection.level {
        Level::Node if selection.node.is_none() => Some(Placeholder::Node),
        Level::Pod if selection.pod.is_none() => Some(Placeholder::Pod),
        Level::Container => Some(Placeholder::Container),
        Level::Service if selection.service.is_none() => Some(Placeholder::Service),
        Level::Operation => Some(Placeholder::Operation),
        _ => None,
    };
    if let (Some(placeholder), NameFilter::Names(names)) = (own, resources) {
        // An empty list selects nothing; the inventory filter then drops all.
        if !names.is_empty() && names.len() <= MAX_PUSHED_VALUES {
            filters.set(placeholder, names.clone());
        }
    }
    filters
}

/// The workspaces to list: visible ones, narrowed by the route and `resources`.
fn workspaces(
    membership: &Membership,
    visible_namespaces: Option<&BTreeSet<String>>,
    selection: &Selection,
    filter: &NameFilter,
) -> Vec<Resource> {
    membership
        .iter()
        .filter(|(ws, members)| {
            !members.is_empty()
                && visible_namespaces.is_none_or(|v| members.iter().all(|ns| v.contains(ns)))
                && selection.workspace.as_ref().is_none_or(|w| w == *ws)
                && filter.matches(ws)
        })
        .map(|(ws, _)| Resource {
            name: ws.clone(),
            labels: BTreeMap::from([("workspace".to_string(), ws.clone())]),
        })
        .collect()
}

/// The resources of the level's inventory query that the route and
/// `resources` select.
fn inventory_resources(
    inventory: Vec<Series>,
    membership: &Membership,
    namespaces: Option<&BTreeSet<String>>,
    selection: &Selection,
    filter: &NameFilter,
) -> Vec<Resource> {
    let level = selection.level;
    let workspace_of: HashMap<&str, &str> = membership
        .iter()
        .flat_map(|(ws, members)| members.iter().map(move |ns| (ns.as_str(), ws.as_str())))
        .collect();
    let wanted_workload = selection
        .workload_kind
        .zip(selection.workload_name.as_ref())
        .map(|(kind, name)| format!("{}:{name}", kind.as_str()));
    let mut seen = BTreeSet::new();
    inventory
        .into_iter()
        .filter_map(|s| {
            let mut labels = s.labels;
            labels.remove("__name__");
            labels.remove(METRIC_LABEL);
            let ns = labels.get("namespace");
            if let (Some(allowed), Some(ns)) = (namespaces, ns) {
                if !allowed.contains(ns) {
                    return None;
                }
            }
            if let Some(node) = &selection.node {
                if labels.get("node") != Some(node) {
                    return None;
                }
            }
            if let Some(service) = &selection.service {
                if labels.get("service") != Some(service) {
                    return None;
                }
            }
            let name = match level {
                Level::Workload => {
                    let (kind, name) = labels.get("workload")?.split_once(':')?;
                    if selection.workload_kind.is_some_and(|k| k.as_str() != kind) {
                        return None;
                    }
                    if selection.workload_name.as_ref().is_some_and(|n| n != name) {
                        return None;
                    }
                    name.to_string()
                }
                _ => labels.get(level.name_label()?)?.clone(),
            };
            if level == Level::Pod {
                if let Some(w) = &wanted_workload {
                    if labels.get("workload") != Some(w) {
                        return None;
                    }
                }
            }
            if !filter.matches(&name) {
                return None;
            }
            if level == Level::Namespace {
                if let Some(ws) = workspace_of.get(name.as_str()) {
                    labels.insert("workspace".into(), ws.to_string());
                }
            }
            let key: Vec<String> = level
                .identity_labels()
                .iter()
                .map(|l| labels.get(*l).cloned())
                .collect::<Option<_>>()?;
            seen.insert(key).then_some(Resource { name, labels })
        })
        .collect()
}

/// A range must be ordered, within the caller's range and points limits.
fn check_window(window: Window, limits: &Limits) -> Result<()> {
    if let Window::Range { start, end, step } = window {
        if step <= 0.0 || !step.is_finite() {
            return Err(Error::bad_request(
                "invalid parameter \"step\": must be a positive duration",
            ));
        }
        check_range(start, end, limits.max_range)?;
        let points = ((end - start) / step).floor() as u64 + 1;
        if points > limits.max_points_per_series {
            return Err(Error::limit(format!(
                "exceeded maximum resolution of {} points per timeseries ({points} requested); increase \"step\"",
                limits.max_points_per_series
            )));
        }
    }
    Ok(())
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}
