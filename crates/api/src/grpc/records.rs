//! `periscope.v1.Events` and `periscope.v1.Audit`: the event and auditing
//! searches over gRPC, with the same parameters (the request is turned into
//! the HTTP API's), scoping and backends as `GET /api/v1/events` and
//! `/api/v1/auditing/events`. Records travel as the JSON they are stored as.

use super::metrics::caller_of;
use crate::error::to_status;
use crate::state::AppState;
use futures::Stream;
use periscope_audit::BodyVisibility;
use periscope_model::{Error, Result};
use periscope_proto::v1::{
    audit_server::Audit, events_server::Events, AuditSearch, EventSearch, RecordChunk,
    RecordHistogram, RecordHistogramBucket, RecordPage, RecordStatistics, RecordWindow, SortOrder,
};
use periscope_record_search::{Answer, Chunk, Export};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub(crate) struct EventsService {
    pub(crate) state: Arc<AppState>,
}

pub(crate) struct AuditService {
    pub(crate) state: Arc<AppState>,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<RecordChunk, Status>> + Send>>;

/// Parameters shared by both searches.
fn window(operation: &str, w: Option<&RecordWindow>) -> Result<Vec<(String, String)>> {
    let mut params = vec![("operation".to_string(), operation.to_string())];
    let Some(w) = w else { return Ok(params) };
    for (name, ns) in [
        ("start_time", w.start_time_unix_nano),
        ("end_time", w.end_time_unix_nano),
    ] {
        if ns < 0 {
            return Err(Error::bad_request(format!(
                "{name}_unix_nano must not be negative"
            )));
        }
        if ns > 0 {
            // Unix seconds, as the HTTP API takes them, to the nanosecond.
            params.push((
                name.to_string(),
                format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000),
            ));
        }
    }
    if SortOrder::try_from(w.sort).unwrap_or(SortOrder::Unspecified) == SortOrder::Asc {
        params.push(("sort".into(), "asc".into()));
    }
    if w.size > 0 {
        params.push(("size".into(), w.size.to_string()));
    }
    if !w.cursor.is_empty() {
        params.push(("cursor".into(), w.cursor.clone()));
    }
    if !w.interval.is_empty() {
        params.push(("interval".into(), w.interval.clone()));
    }
    Ok(params)
}

/// Adds `name=a,b` for a non-empty list.
fn list<T: ToString>(params: &mut Vec<(String, String)>, name: &str, values: &[T]) {
    if !values.is_empty() {
        let joined: Vec<String> = values.iter().map(ToString::to_string).collect();
        params.push((name.to_string(), joined.join(",")));
    }
}

fn event_parameters(r: &EventSearch, operation: &str) -> Result<Vec<(String, String)>> {
    let mut p = window(operation, r.window.as_ref())?;
    list(&mut p, "workspace_filter", &r.workspaces);
    list(&mut p, "workspace_search", &r.workspace_search);
    list(&mut p, "involved_object_namespace_filter", &r.namespaces);
    list(
        &mut p,
        "involved_object_namespace_search",
        &r.namespace_search,
    );
    list(&mut p, "involved_object_name_filter", &r.names);
    list(&mut p, "involved_object_name_search", &r.name_search);
    list(&mut p, "involved_object_kind_filter", &r.kinds);
    list(&mut p, "reason_filter", &r.reasons);
    list(&mut p, "reason_search", &r.reason_search);
    list(&mut p, "message_search", &r.message_search);
    list(&mut p, "type_filter", &r.types);
    Ok(p)
}

fn audit_parameters(r: &AuditSearch, operation: &str) -> Result<Vec<(String, String)>> {
    let mut p = window(operation, r.window.as_ref())?;
    list(&mut p, "workspace_filter", &r.workspaces);
    list(&mut p, "workspace_search", &r.workspace_search);
    list(&mut p, "objectref_namespace_filter", &r.namespaces);
    list(&mut p, "objectref_namespace_search", &r.namespace_search);
    list(&mut p, "objectref_name_filter", &r.names);
    list(&mut p, "objectref_name_search", &r.name_search);
    list(&mut p, "objectref_resource_filter", &r.resources);
    list(&mut p, "objectref_subresource_filter", &r.subresources);
    list(&mut p, "level_filter", &r.levels);
    list(&mut p, "verb_filter", &r.verbs);
    list(&mut p, "user_filter", &r.users);
    list(&mut p, "user_search", &r.user_search);
    list(&mut p, "group_search", &r.group_search);
    list(&mut p, "source_ip_search", &r.source_ip_search);
    list(&mut p, "response_code_filter", &r.response_codes);
    list(&mut p, "response_status_filter", &r.response_statuses);
    Ok(p)
}

fn json(records: Chunk) -> Vec<String> {
    records.into_iter().map(|r| r.get().to_string()).collect()
}

fn page(answer: Answer, bodies: BodyVisibility) -> Result<RecordPage, Status> {
    match answer {
        Answer::Page(p) => Ok(RecordPage {
            total: p.total,
            records_json: json(bodies.apply(p.records.unwrap_or_default())),
            cursor: p.cursor.unwrap_or_default(),
        }),
        _ => Err(Status::internal("unexpected answer")),
    }
}

fn statistics(answer: Answer) -> Result<RecordStatistics, Status> {
    match answer {
        Answer::Statistics(s) => Ok(RecordStatistics {
            resources: s.resources,
            events: s.events,
        }),
        _ => Err(Status::internal("unexpected answer")),
    }
}

fn histogram(answer: Answer) -> Result<RecordHistogram, Status> {
    match answer {
        Answer::Histogram(h) => Ok(RecordHistogram {
            total: h.total,
            buckets: h
                .buckets
                .into_iter()
                .map(|b| RecordHistogramBucket {
                    time_unix_milli: b.time,
                    count: b.count,
                })
                .collect(),
        }),
        _ => Err(Status::internal("unexpected answer")),
    }
}

/// An export as a stream of chunks; a failure ends it with its status.
fn stream(answer: Answer, bodies: BodyVisibility) -> Result<ChunkStream, Status> {
    let Answer::Export(Export { records, done }) = answer else {
        return Err(Status::internal("unexpected answer"));
    };
    let chunks = futures::stream::unfold(
        (records, Some(done)),
        move |(mut records, done)| async move {
            if let Some(chunk) = records.recv().await {
                let chunk = RecordChunk {
                    records_json: json(bodies.apply(chunk)),
                };
                return Some((Ok(chunk), (records, done)));
            }
            match done?.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some((Err(to_status(e)), (records, None))),
                Err(_) => Some((Err(Status::internal("the export stopped")), (records, None))),
            }
        },
    );
    Ok(Box::pin(chunks))
}

impl EventsService {
    async fn answer(&self, request: &Request<EventSearch>, operation: &str) -> Result<Answer> {
        let caller = caller_of(&self.state, request)?;
        let r = request.get_ref();
        let params = event_parameters(r, operation)?;
        self.state
            .event_search(&caller, Some(&r.cluster), &params)
            .await
    }
}

#[tonic::async_trait]
impl Events for EventsService {
    async fn query(&self, request: Request<EventSearch>) -> Result<Response<RecordPage>, Status> {
        let answer = self.answer(&request, "query").await.map_err(to_status)?;
        page(answer, BodyVisibility::RequestResponse).map(Response::new)
    }

    async fn statistics(
        &self,
        request: Request<EventSearch>,
    ) -> Result<Response<RecordStatistics>, Status> {
        statistics(
            self.answer(&request, "statistics")
                .await
                .map_err(to_status)?,
        )
        .map(Response::new)
    }

    async fn histogram(
        &self,
        request: Request<EventSearch>,
    ) -> Result<Response<RecordHistogram>, Status> {
        histogram(
            self.answer(&request, "histogram")
                .await
                .map_err(to_status)?,
        )
        .map(Response::new)
    }

    type ExportStream = ChunkStream;

    async fn export(&self, request: Request<EventSearch>) -> Result<Response<ChunkStream>, Status> {
        let answer = self.answer(&request, "export").await.map_err(to_status)?;
        stream(answer, BodyVisibility::RequestResponse).map(Response::new)
    }
}

impl AuditService {
    async fn answer(
        &self,
        request: &Request<AuditSearch>,
        operation: &str,
    ) -> Result<(Answer, BodyVisibility)> {
        let caller = caller_of(&self.state, request)?;
        let r = request.get_ref();
        let params = audit_parameters(r, operation)?;
        self.state
            .audit_search(&caller, Some(&r.cluster), &params)
            .await
    }
}

#[tonic::async_trait]
impl Audit for AuditService {
    async fn query(&self, request: Request<AuditSearch>) -> Result<Response<RecordPage>, Status> {
        let (answer, bodies) = self.answer(&request, "query").await.map_err(to_status)?;
        page(answer, bodies).map(Response::new)
    }

    async fn statistics(
        &self,
        request: Request<AuditSearch>,
    ) -> Result<Response<RecordStatistics>, Status> {
        let (answer, _) = self
            .answer(&request, "statistics")
            .await
            .map_err(to_status)?;
        statistics(answer).map(Response::new)
    }

    async fn histogram(
        &self,
        request: Request<AuditSearch>,
    ) -> Result<Response<RecordHistogram>, Status> {
        let (answer, _) = self
            .answer(&request, "histogram")
            .await
            .map_err(to_status)?;
        histogram(answer).map(Response::new)
    }

    type ExportStream = ChunkStream;

    async fn export(&self, request: Request<AuditSearch>) -> Result<Response<ChunkStream>, Status> {
        let (answer, bodies) = self.answer(&request, "export").await.map_err(to_status)?;
        stream(answer, bodies).map(Response::new)
    }
}
