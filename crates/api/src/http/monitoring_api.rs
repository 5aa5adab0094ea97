//! The drill-down monitoring API: `/api/v1[/clusters/{cluster}]/...` from the
//! cluster down to containers, from workspaces down to workloads, and from a
//! namespace to its services (from spans) and their topology, each resource
//! with its named metrics and links to its children.

use super::extract::Authenticated;
use super::method_not_allowed;
use super::params::Params;
use crate::drilldown::unix_now;
use crate::error::ApiError;
use crate::services::PlacedIn;
use crate::state::AppState;
use crate::time::{parse_duration, parse_time};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use periscope_model::{Error, Result};
use periscope_monitoring::{
    DrillDown, Level, NameFilter, Paging, Selection, SortBy, Window, WorkloadKind,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Parameters every drill-down route takes.
const PARAMETERS: &[&str] = &[
    "metrics",
    "resources",
    "time",
    "start",
    "end",
    "step",
    "sort_metric",
    "sort",
    "page",
    "limit",
];

type PathParams = HashMap<String, String>;

/// Routes relative to `/api/v1` or `/api/v1/clusters/{cluster}`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/catalog", get(catalog).fallback(method_not_allowed))
        .route("/cluster", page(|_| Ok(Selection::of(Level::Cluster))))
        .route("/nodes", page(|_| Ok(Selection::of(Level::Node))))
        .route(
            "/nodes/{node}",
            page(|p| {
                Ok(Selection {
                    node: Some(p["node"].clone()),
                    ..Selection::of(Level::Node)
                })
            }),
        )
        .route(
            "/nodes/{node}/pods",
            page(|p| {
                Ok(Selection {
                    node: Some(p["node"].clone()),
                    ..Selection::of(Level::Pod)
                })
            }),
        )
        .route("/workspaces", page(|_| Ok(Selection::of(Level::Workspace))))
        .route(
            "/workspaces/{workspace}",
            page(|p| {
                Ok(Selection {
                    workspace: Some(p["workspace"].clone()),
                    ..Selection::of(Level::Workspace)
                })
            }),
        )
        .route(
            "/workspaces/{workspace}/namespaces",
            page(|p| {
                Ok(Selection {
                    workspace: Some(p["workspace"].clone()),
                    ..Selection::of(Level::Namespace)
                })
            }),
        )
        .route("/namespaces", page(|_| Ok(Selection::of(Level::Namespace))))
        .route(
            "/namespaces/{namespace}",
            page(|p| Ok(in_namespace(p, Level::Namespace))),
        )
        .route(
            "/namespaces/{namespace}/workloads",
            page(|p| Ok(in_namespace(p, Level::Workload))),
        )
        .route(
            "/namespaces/{namespace}/workloads/{kind}",
            page(|p| {
                Ok(Selection {
                    workload_kind: Some(WorkloadKind::parse("kind", &p["kind"])?),
                    ..in_namespace(p, Level::Workload)
                })
            }),
        )
        .route(
            "/namespaces/{namespace}/workloads/{kind}/{name}",
            page(|p| workload(p, Level::Workload)),
        )
        .route(
            "/namespaces/{namespace}/workloads/{kind}/{name}/pods",
            page(|p| workload(p, Level::Pod)),
        )
        .route(
            "/namespaces/{namespace}/pods",
            page(|p| Ok(in_namespace(p, Level::Pod))),
        )
        .route(
            "/namespaces/{namespace}/pods/{pod}",
            page(|p| {
                Ok(Selection {
                    pod: Some(p["pod"].clone()),
                    ..in_namespace(p, Level::Pod)
                })
            }),
        )
        .route(
            "/namespaces/{namespace}/services",
            page(|p| Ok(in_namespace(p, Level::Service))),
        )
        .route(
            "/namespaces/{namespace}/services/{service}",
            get(service_page).fallback(method_not_allowed),
        )
        .route(
            "/namespaces/{namespace}/services/{service}/operations",
            page(|p| Ok(in_service(p, Level::Operation))),
        )
        .route(
            "/namespaces/{namespace}/topology",
            get(topology).fallback(method_not_allowed),
        )
        .route(
            "/namespaces/{namespace}/pods/{pod}/services",
            get(services_of_pod).fallback(method_not_allowed),
        )
        .route(
            "/namespaces/{namespace}/workloads/{kind}/{name}/services",
            get(services_of_workload).fallback(method_not_allowed),
        )
        .route(
            "/namespaces/{namespace}/pods/{pod}/containers",
            page(|p| {
                Ok(Selection {
                    pod: Some(p["pod"].clone()),
                    ..in_namespace(p, Level::Container)
                })
            }),
        )
}

fn in_namespace(p: &PathParams, level: Level) -> Selection {
    Selection {
        namespace: Some(p["namespace"].clone()),
        ..Selection::of(level)
    }
}

fn in_service(p: &PathParams, level: Level) -> Selection {
    Selection {
        service: Some(p["service"].clone()),
        ..in_namespace(p, level)
    }
}

/// What a service-level route is asked: its cluster and the page request
/// for `selection`.
fn service_request<'s>(
    state: &'s AppState,
    path: &PathParams,
    params: &Params,
    selection: Selection,
) -> Result<(&'s crate::state::Cluster, DrillDown)> {
    let cluster = state.cluster(path.get("cluster").map(String::as_str))?;
    let request = DrillDown {
        selection,
        ..parse_request(params)?
    };
    Ok((cluster, request))
}

/// `namespaces/{ns}/services/{service}`: the service's page, its operations
/// and the pods that served it.
async fn service_page(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path(path): Path<PathParams>,
    params: Params,
) -> Result<Response, ApiError> {
    let selection = in_service(&path, Level::Service);
    let (cluster, request) = service_request(&state, &path, &params, selection)?;
    let page = state.service_page(&caller, cluster, request).await?;
    Ok(Json(page).into_response())
}

/// `namespaces/{ns}/pods/{pod}/services`.
async fn services_of_pod(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path(path): Path<PathParams>,
    params: Params,
) -> Result<Response, ApiError> {
    let selection = in_namespace(&path, Level::Service);
    let (cluster, request) = service_request(&state, &path, &params, selection)?;
    let placed = PlacedIn::Pod(path["pod"].clone());
    let page = state.services_of(&caller, cluster, request, placed).await?;
    Ok(Json(page).into_response())
}

/// `namespaces/{ns}/workloads/{kind}/{name}/services`.
async fn services_of_workload(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path(path): Path<PathParams>,
    params: Params,
) -> Result<Response, ApiError> {
    let selection = in_namespace(&path, Level::Service);
    let (cluster, request) = service_request(&state, &path, &params, selection)?;
    let kind = WorkloadKind::parse("kind", &path["kind"])?;
    let placed = PlacedIn::Workload(kind, path["name"].clone());
    let page = state.services_of(&caller, cluster, request, placed).await?;
    Ok(Json(page).into_response())
}

/// `namespaces/{ns}/topology?time=`: services, peers and the calls between them.
async fn topology(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path(path): Path<PathParams>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&["time"])?;
    let cluster = state.cluster(path.get("cluster").map(String::as_str))?;
    let time = params
        .single("time")?
        .map(|t| parse_time("time", &t))
        .transpose()?
        .unwrap_or_else(unix_now);
    let topology = state
        .topology(&caller, cluster, &path["namespace"], time)
        .await?;
    Ok(Json(topology).into_response())
}

fn workload(p: &PathParams, level: Level) -> Result<Selection> {
    Ok(Selection {
        workload_kind: Some(WorkloadKind::parse("kind", &p["kind"])?),
        workload_name: Some(p["name"].clone()),
        ..in_namespace(p, level)
    })
}

/// A GET route answering one drill-down page for the selection `select`
/// builds from the path.
fn page(select: fn(&PathParams) -> Result<Selection>) -> MethodRouter<Arc<AppState>> {
    get(
        move |State(state): State<Arc<AppState>>,
              Authenticated(caller): Authenticated,
              Path(path): Path<PathParams>,
              params: Params| async move {
            let cluster = state.cluster(path.get("cluster").map(String::as_str))?;
            let request = DrillDown {
                selection: select(&path)?,
                ..parse_request(&params)?
            };
            let page = state.drill_down(&caller, cluster, request).await?;
            Ok::<Response, ApiError>(Json(page).into_response())
        },
    )
    .fallback(method_not_allowed)
}

/// The query parameters of a drill-down request (the selection comes from the
/// path).
pub(crate) fn parse_request(params: &Params) -> Result<DrillDown> {
    params.only(PARAMETERS)?;
    let single = |name: &str| params.single(name);
    let window = parse_window(
        single("time")?.as_deref(),
        single("start")?.as_deref(),
        single("end")?.as_deref(),
        single("step")?.as_deref(),
    )?;
    Ok(DrillDown {
        latest: single("time")?.is_none(),
        selection: Selection::of(Level::Cluster),
        metrics: NameFilter::parse("metrics", single("metrics")?.as_deref())?,
        resources: NameFilter::parse("resources", single("resources")?.as_deref())?,
        window,
        sort: SortBy::parse(single("sort_metric")?, single("sort")?.as_deref())?,
        paging: Paging::parse(single("page")?.as_deref(), single("limit")?.as_deref())?,
    })
}

/// `time` (default now) for an instant page, or `start`, `end` and `step`
/// for a range.
pub(crate) fn parse_window(
    time: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
    step: Option<&str>,
) -> Result<Window> {
    match (time, start, end, step) {
        (Some(_), Some(_), _, _) | (Some(_), _, Some(_), _) => Err(Error::bad_request(
            "parameter \"time\" cannot be combined with \"start\"/\"end\"",
        )),
        (time, None, None, None) => Ok(Window::Instant {
            time: time
                .map(|t| parse_time("time", t))
                .transpose()?
                .unwrap_or_else(unix_now),
        }),
        (None, Some(start), Some(end), Some(step)) => Ok(Window::Range {
            start: parse_time("start", start)?,
            end: parse_time("end", end)?,
            step: parse_duration("step", step)?.as_secs_f64(),
        }),
        (None, Some(_), Some(_), None) => Err(Error::bad_request(
            "missing parameter \"step\" (a range needs start, end and step)",
        )),
        (_, None, _, _) if end.is_some() || step.is_some() => Err(Error::bad_request(
            "missing parameter \"start\" (a range needs start, end and step)",
        )),
        _ => Err(Error::bad_request(
            "missing parameter \"end\" (a range needs start, end and step)",
        )),
    }
}

/// `GET /api/v1/catalog`: every named metric with its level, unit and help.
async fn catalog(
    State(state): State<Arc<AppState>>,
    Authenticated(_caller): Authenticated,
) -> Json<serde_json::Value> {
    let metrics: Vec<serde_json::Value> = state
        .catalog
        .all()
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "level": m.level,
                "unit": m.unit,
                "help": m.help,
            })
        })
        .collect();
    Json(serde_json::json!({ "metrics": metrics }))
}
