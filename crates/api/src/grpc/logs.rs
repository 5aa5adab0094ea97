//! `periscope.v1.Logs`: the log API over gRPC, the same request parsing,
//! scoping and backends as `GET /api/v1/logs`.

use super::metrics::caller_of;
use crate::error::to_status;
use crate::logs::{LogAnswer, LogExport};
use crate::state::AppState;
use futures::Stream;
use periscope_logs::format_time;
use periscope_model::{Error, Result};
use periscope_proto::v1::{
    logs_server::Logs, LogChunk, LogHistogram, LogHistogramBucket, LogLine, LogPage, LogRequest,
    LogStatistics, SortOrder,
};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub(crate) struct LogsService {
    pub(crate) state: Arc<AppState>,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<LogChunk, Status>> + Send>>;

impl LogsService {
    async fn answer(&self, request: &Request<LogRequest>, operation: &str) -> Result<LogAnswer> {
        let caller = caller_of(&self.state, request)?;
        let r = request.get_ref();
        let params = parameters(r, operation)?;
        self.state.logs(&caller, Some(&r.cluster), &params).await
    }
}

#[tonic::async_trait]
impl Logs for LogsService {
    async fn query(&self, request: Request<LogRequest>) -> Result<Response<LogPage>, Status> {
        match self.answer(&request, "query").await.map_err(to_status)? {
            LogAnswer::Page(page) => Ok(Response::new(LogPage {
                total: page.total,
                lines: page.records.into_iter().map(line).collect(),
                cursor: page.cursor.unwrap_or_default(),
            })),
            _ => Err(Status::internal("unexpected answer")),
        }
    }

    async fn statistics(
        &self,
        request: Request<LogRequest>,
    ) -> Result<Response<LogStatistics>, Status> {
        match self
            .answer(&request, "statistics")
            .await
            .map_err(to_status)?
        {
            LogAnswer::Statistics(s) => Ok(Response::new(LogStatistics {
                containers: s.containers,
                logs: s.logs,
            })),
            _ => Err(Status::internal("unexpected answer")),
        }
    }

    async fn histogram(
        &self,
        request: Request<LogRequest>,
    ) -> Result<Response<LogHistogram>, Status> {
        match self
            .answer(&request, "histogram")
            .await
            .map_err(to_status)?
        {
            LogAnswer::Histogram(h) => Ok(Response::new(LogHistogram {
                total: h.total,
                buckets: h
                    .histograms
                    .into_iter()
                    .map(|b| LogHistogramBucket {
                        time_unix_milli: b.time,
                        count: b.count,
                    })
                    .collect(),
            })),
            _ => Err(Status::internal("unexpected answer")),
        }
    }

    type ExportStream = ChunkStream;

    async fn export(&self, request: Request<LogRequest>) -> Result<Response<ChunkStream>, Status> {
        let LogAnswer::Export(LogExport { lines, done, .. }) =
            self.answer(&request, "export").await.map_err(to_status)?
        else {
            return Err(Status::internal("unexpected answer"));
        };
        let chunks = futures::stream::unfold((lines, Some(done)), |(mut lines, done)| async move {
            if let Some(chunk) = lines.recv().await {
                let chunk = LogChunk {
                    lines: chunk.into_iter().map(line).collect(),
                };
                return Some((Ok(chunk), (lines, done)));
            }
            // The export ended: report a failure as the stream's status.
            match done?.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some((Err(to_status(e)), (lines, None))),
                Err(_) => Some((Err(Status::internal("the export stopped")), (lines, None))),
            }
        });
        Ok(Response::new(Box::pin(chunks)))
    }
}

fn line(l: periscope_logs::LogLine) -> LogLine {
    LogLine {
        time_unix_nano: l.time,
        namespace: l.namespace,
        pod: l.pod,
        container: l.container,
        log: l.log,
    }
}

/// The request as the HTTP API's parameters, so both share one parser.
fn parameters(r: &LogRequest, operation: &str) -> Result<Vec<(String, String)>> {
    let mut params = vec![("operation".to_string(), operation.to_string())];
    let mut list = |name: &str, values: &[String]| {
        if !values.is_empty() {
            params.push((name.to_string(), values.join(",")));
        }
    };
    list("namespaces", &r.namespaces);
    list("workloads", &r.workloads);
    list("pods", &r.pods);
    list("containers", &r.containers);
    list("namespace_query", &r.namespace_query);
    list("workload_query", &r.workload_query);
    list("pod_query", &r.pod_query);
    list("container_query", &r.container_query);
    list("log_query", &r.log_query);
    for (name, ns) in [
        ("start_time", r.start_time_unix_nano),
        ("end_time", r.end_time_unix_nano),
    ] {
        if ns < 0 {
            return Err(Error::bad_request(format!(
                "{name}_unix_nano must not be negative"
            )));
        }
        if ns > 0 {
            params.push((name.to_string(), format_time(ns)));
        }
    }
    match SortOrder::try_from(r.sort).unwrap_or(SortOrder::Unspecified) {
        SortOrder::Asc => params.push(("sort".into(), "asc".into())),
        SortOrder::Desc | SortOrder::Unspecified => {}
    }
    if r.size > 0 {
        params.push(("size".into(), r.size.to_string()));
    }
    if !r.cursor.is_empty() {
        params.push(("cursor".into(), r.cursor.clone()));
    }
    if !r.interval.is_empty() {
        params.push(("interval".into(), r.interval.clone()));
    }
    Ok(params)
}
