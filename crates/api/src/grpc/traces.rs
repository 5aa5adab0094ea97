//! `periscope.v1.Traces`: trace search and retrieval over gRPC, through the
//! same parameter parsing (requests are put into Jaeger's query parameters)
//! and the same trace service, so scoping is identical to the HTTP API.

use super::metrics::caller_of;
use crate::error::to_status;
use crate::state::{within, AppState, Caller};
use periscope_model::Result;
use periscope_proto::v1::{
    traces_server::Traces, Dependency, FindTracesRequest, GetDependenciesRequest,
    GetDependenciesResponse, GetOperationsRequest, GetOperationsResponse, GetServicesRequest,
    GetServicesResponse, GetTraceRequest, Operation, Span, Trace, TracesResponse,
};
use periscope_traces::query::{dependency_window, span_kind};
use periscope_traces::span::kind_name;
use periscope_traces::{ScopedTrace, TraceId, TraceRequest, TraceService};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tonic::{Request, Response, Status};

pub(crate) struct TracesService {
    pub(crate) state: Arc<AppState>,
}

/// The caller, its cluster's trace service, and one of its query slots
/// (held while the answer is built) with the query timeout.
struct Context<'a> {
    caller: Caller,
    service: &'a TraceService,
    _slot: OwnedSemaphorePermit,
    timeout: Duration,
}

impl Context<'_> {
    /// `work` within the caller's query timeout.
    async fn bounded<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        within(self.timeout, "trace query", work).await
    }
}

impl TracesService {
    fn context<T>(&self, request: &Request<T>, cluster: &str) -> Result<Context<'_>> {
        let caller = caller_of(&self.state, request)?;
        let service = self.state.trace_service(Some(cluster))?;
        let (slot, timeout) = self.state.query_slot(&caller)?;
        Ok(Context {
            caller,
            service,
            _slot: slot,
            timeout,
        })
    }
}

fn pair(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// A search as Jaeger's query parameters (times in µs, durations in ns).
fn search_parameters(r: &FindTracesRequest) -> Vec<(String, String)> {
    let mut params = vec![pair("service", &r.service)];
    if !r.operation.is_empty() {
        params.push(pair("operation", &r.operation));
    }
    if !r.span_kind.is_empty() {
        params.push(pair("spanKind", &r.span_kind));
    }
    if !r.tags.is_empty() {
        params.push(pair("tags", serde_json::json!(r.tags)));
    }
    if r.start_unix_nano != 0 {
        params.push(pair("start", r.start_unix_nano / 1000));
    }
    if r.end_unix_nano != 0 {
        params.push(pair("end", r.end_unix_nano / 1000));
    }
    if let Some(d) = r.min_duration_nano {
        params.push(pair("minDuration", format!("{d}ns")));
    }
    if let Some(d) = r.max_duration_nano {
        params.push(pair("maxDuration", format!("{d}ns")));
    }
    if r.limit != 0 {
        params.push(pair("limit", r.limit));
    }
    params
}

fn trace(t: ScopedTrace) -> Trace {
    Trace {
        trace_id: t.trace_id.to_string(),
        hidden_spans: t.hidden as u32,
        spans: t
            .spans
            .into_iter()
            .map(|s| Span {
                trace_id: s.trace_id.to_string(),
                span_id: s.span_id.to_string(),
                parent_span_id: s.parent_span_id.map(|p| p.to_string()).unwrap_or_default(),
                span_kind: kind_name(s.kind).unwrap_or_default().to_string(),
                status_code: s.status_code,
                start_unix_nano: s.start,
                duration_nano: s.duration,
                tags: s
                    .tags
                    .iter()
                    .chain(s.resource.iter())
                    .map(|t| (t.key.clone(), t.value.as_text()))
                    .collect(),
                namespace: s.place.namespace,
                pod: s.place.pod,
                node: s.place.node,
                container: s.place.container,
                workload: s.place.workload,
                service: s.service,
                operation: s.operation,
            })
            .collect(),
    }
}

fn now() -> i64 {
    periscope_store::unix_now_ns()
}

#[tonic::async_trait]
impl Traces for TracesService {
    async fn find_traces(
        &self,
        request: Request<FindTracesRequest>,
    ) -> std::result::Result<Response<TracesResponse>, Status> {
        let answer = async {
            let c = self.context(&request, &request.get_ref().cluster)?;
            let params = search_parameters(request.get_ref());
            let TraceRequest::Search(q) = TraceRequest::parse(&params, now())? else {
                unreachable!("search parameters name no trace ids");
            };
            c.bounded(c.service.search(q, &c.caller.scope)).await
        }
        .await
        .map_err(to_status)?;
        Ok(Response::new(TracesResponse {
            traces: answer.into_iter().map(trace).collect(),
        }))
    }

    async fn get_trace(
        &self,
        request: Request<GetTraceRequest>,
    ) -> std::result::Result<Response<TracesResponse>, Status> {
        let answer = async {
            let r = request.get_ref();
            let c = self.context(&request, &r.cluster)?;
            let id = TraceId::parse(&r.trace_id)?;
            c.bounded(c.service.trace(id, &c.caller.scope)).await
        }
        .await
        .map_err(to_status)?;
        match answer {
            Some(t) => Ok(Response::new(TracesResponse {
                traces: vec![trace(t)],
            })),
            None => Err(Status::not_found("trace not found")),
        }
    }

    async fn get_services(
        &self,
        request: Request<GetServicesRequest>,
    ) -> std::result::Result<Response<GetServicesResponse>, Status> {
        let services = async {
            let c = self.context(&request, &request.get_ref().cluster)?;
            c.bounded(c.service.services(&c.caller.scope)).await
        }
        .await
        .map_err(to_status)?;
        Ok(Response::new(GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<GetOperationsRequest>,
    ) -> std::result::Result<Response<GetOperationsResponse>, Status> {
        let operations = async {
            let r = request.get_ref();
            let c = self.context(&request, &r.cluster)?;
            if r.service.is_empty() {
                return Err(periscope_model::Error::bad_request("service is required"));
            }
            let kind = span_kind(Some(&r.span_kind))?;
            c.bounded(
                c.service
                    .operations(r.service.clone(), kind, &c.caller.scope),
            )
            .await
        }
        .await
        .map_err(to_status)?;
        Ok(Response::new(GetOperationsResponse {
            operations: operations
                .into_iter()
                .map(|o| Operation {
                    span_kind: kind_name(o.kind).unwrap_or_default().to_string(),
                    name: o.name,
                })
                .collect(),
        }))
    }

    async fn get_dependencies(
        &self,
        request: Request<GetDependenciesRequest>,
    ) -> std::result::Result<Response<GetDependenciesResponse>, Status> {
        let edges = async {
            let r = request.get_ref();
            let c = self.context(&request, &r.cluster)?;
            let (start, end) = if r.start_unix_nano == 0 && r.end_unix_nano == 0 {
                dependency_window(&[], now())?
            } else if r.start_unix_nano > r.end_unix_nano {
                return Err(periscope_model::Error::bad_request(
                    "start_unix_nano is after end_unix_nano",
                ));
            } else {
                (r.start_unix_nano, r.end_unix_nano)
            };
            c.bounded(c.service.dependencies(start, end, &c.caller.scope))
                .await
        }
        .await
        .map_err(to_status)?;
        Ok(Response::new(GetDependenciesResponse {
            dependencies: edges
                .into_iter()
                .map(|e| Dependency {
                    parent: e.parent,
                    child: e.child,
                    call_count: e.calls,
                })
                .collect(),
        }))
    }
}
