//! `periscope.v1.Monitoring`: the drill-down pages of the HTTP API, typed.

use super::metrics::caller_of;
use crate::error::to_status;
use crate::http::parse_window;
use crate::state::AppState;
use periscope_model::{Error, Result};
use periscope_monitoring::{
    DrillDown, Level, NameFilter, Page, Paging, Selection, SortBy, WorkloadKind,
};
use periscope_proto::v1::{
    monitoring_server::Monitoring, DrillDownRequest, DrillDownResponse, Level as ProtoLevel,
    MetricInfo, MetricSamples, MonitoringSample, Resource,
};
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

pub(crate) struct MonitoringService {
    pub(crate) state: Arc<AppState>,
}

#[tonic::async_trait]
impl Monitoring for MonitoringService {
    async fn drill_down(
        &self,
        request: Request<DrillDownRequest>,
    ) -> Result<Response<DrillDownResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let caller = caller_of(&self.state, &request)?;
            let r = request.get_ref();
            let cluster = self.state.cluster(Some(&r.cluster))?;
            let page = self
                .state
                .drill_down(&caller, cluster, drill_down_request(r)?)
                .await?;
            Ok::<_, Error>(response(page))
        }
        .await;
        let status = match &result {
            Ok(_) => 200,
            Err(e) => crate::error::http_status(e.kind()).as_u16(),
        };
        self.state.telemetry.observe_request(
            "/periscope.v1.Monitoring/DrillDown",
            status,
            started.elapsed(),
        );
        result.map(Response::new).map_err(to_status)
    }
}

fn level(l: i32) -> Result<Level> {
    match ProtoLevel::try_from(l).unwrap_or(ProtoLevel::Unspecified) {
        ProtoLevel::Cluster => Ok(Level::Cluster),
        ProtoLevel::Node => Ok(Level::Node),
        ProtoLevel::Workspace => Ok(Level::Workspace),
        ProtoLevel::Namespace => Ok(Level::Namespace),
        ProtoLevel::Workload => Ok(Level::Workload),
        ProtoLevel::Pod => Ok(Level::Pod),
        ProtoLevel::Container => Ok(Level::Container),
        ProtoLevel::Service => Ok(Level::Service),
        ProtoLevel::Operation => Ok(Level::Operation),
        ProtoLevel::Unspecified => Err(Error::bad_request("invalid field \"level\": unspecified")),
    }
}

fn proto_level(l: Level) -> ProtoLevel {
    match l {
        Level::Cluster => ProtoLevel::Cluster,
        Level::Node => ProtoLevel::Node,
        Level::Workspace => ProtoLevel::Workspace,
        Level::Namespace => ProtoLevel::Namespace,
        Level::Workload => ProtoLevel::Workload,
        Level::Pod => ProtoLevel::Pod,
        Level::Container => ProtoLevel::Container,
        Level::Service => ProtoLevel::Service,
        Level::Operation => ProtoLevel::Operation,
    }
}

/// The same request the HTTP route would build, through the same parsers.
fn drill_down_request(r: &DrillDownRequest) -> Result<DrillDown> {
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let number = |n: u32| (n != 0).then(|| n.to_string());
    let selection = Selection {
        level: level(r.level)?,
        node: text(&r.node),
        workspace: text(&r.workspace),
        namespace: text(&r.namespace),
        workload_kind: text(&r.workload_kind)
            .map(|k| WorkloadKind::parse("workload_kind", &k))
            .transpose()?,
        workload_name: text(&r.workload_name),
        pod: text(&r.pod),
        service: text(&r.service),
    };
    let window = parse_window(
        r.time.map(|t| t.to_string()).as_deref(),
        r.start.map(|t| t.to_string()).as_deref(),
        r.end.map(|t| t.to_string()).as_deref(),
        r.step_seconds.map(|t| t.to_string()).as_deref(),
    )?;
    Ok(DrillDown {
        latest: r.time.is_none(),
        selection,
        metrics: NameFilter::parse("metrics", Some(&r.metrics))?,
        resources: NameFilter::parse("resources", Some(&r.resources))?,
        window,
        sort: SortBy::parse(text(&r.sort_metric), text(&r.sort).as_deref())?,
        paging: Paging::parse(number(r.page).as_deref(), number(r.limit).as_deref())?,
    })
}

fn response(page: Page) -> DrillDownResponse {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    DrillDownResponse {
        cluster: page.cluster,
        level: proto_level(page.level) as i32,
        metrics: page
            .metrics
            .into_iter()
            .map(|m| MetricInfo {
                name: m.name,
                unit: m.unit,
                help: m.help,
            })
            .collect(),
        items: page
            .items
            .into_iter()
            .map(|item| Resource {
                name: item.name,
                labels: item.labels.into_iter().collect(),
                metrics: item
                    .metrics
                    .into_iter()
                    .map(|(name, values)| {
                        let samples = values
                            .samples()
                            .into_iter()
                            .map(|(timestamp, value)| MonitoringSample { timestamp, value })
                            .collect();
                        (name, MetricSamples { samples })
                    })
                    .collect(),
                links: item.links.into_iter().collect(),
            })
            .collect(),
        page: count(page.page),
        limit: count(page.limit),
        total_items: count(page.total_items),
        total_pages: count(page.total_pages),
        errors: page.errors.into_iter().collect(),
    }
}
