//! One log request, the same for HTTP and gRPC: authenticate, apply the scope,
//! bound concurrency and time, ask the cluster's backend.

use crate::state::{within, AppState, Caller};
use periscope_logs::{
    ExportFormat, Histogram, LogLine, LogRequest, Operation, QueryPage, Statistics,
};
use periscope_model::Result;
use tokio::sync::{mpsc, oneshot};

/// Chunks in flight between an export and its client: a slow client holds
/// the export back instead of filling memory.
const EXPORT_BUFFER: usize = 4;

/// The answer to a log request.
pub(crate) enum LogAnswer {
    Page(QueryPage),
    Statistics(Statistics),
    Histogram(Histogram),
    Export(LogExport),
}

/// A running export: chunks of lines, then how it ended.
pub(crate) struct LogExport {
    pub format: ExportFormat,
    pub lines: mpsc::Receiver<Vec<LogLine>>,
    /// Ok when every line was sent; an error cut the export short.
    pub done: oneshot::Receiver<Result<()>>,
}

impl AppState {
    /// Answers a log request given as query parameters.
    pub(crate) async fn logs(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        params: &[(String, String)],
    ) -> Result<LogAnswer> {
        let backend = self.log_backend(cluster)?.clone();
        let now = periscope_store::unix_now_ns();
        let request = LogRequest::parse(params, &caller.scope, now)?;
        if request.filter.is_empty_scope() {
            // Nothing is visible: answered without asking the backend.
            return Ok(empty_answer(&request));
        }
        let (permit, timeout) = self.query_slot(caller)?;
        let answer = match request.operation {
            Operation::Query => {
                LogAnswer::Page(within(timeout, "log query", backend.query(&request)).await?)
            }
            Operation::Statistics => LogAnswer::Statistics(
                within(
                    timeout,
                    "log statistics",
                    backend.statistics(&request.filter),
                )
                .await?,
            ),
            Operation::Histogram => LogAnswer::Histogram(
                within(
                    timeout,
                    "log histogram",
                    backend.histogram(&request.filter, request.interval),
                )
                .await?,
            ),
            Operation::Export => {
                let (lines_tx, lines) = mpsc::channel(EXPORT_BUFFER);
                let (done_tx, done) = oneshot::channel();
                tokio::spawn(async move {
                    let _permit = permit;
                    let result = backend
                        .export(&request.filter, request.sort, lines_tx)
                        .await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "log export failed");
                    }
                    let _ = done_tx.send(result);
                });
                return Ok(LogAnswer::Export(LogExport {
                    format: request.format,
                    lines,
                    done,
                }));
            }
        };
        drop(permit);
        Ok(answer)
    }
}

/// The answer for a caller whose scope holds no namespace.
fn empty_answer(request: &LogRequest) -> LogAnswer {
    match request.operation {
        Operation::Query => LogAnswer::Page(QueryPage {
            total: 0,
            records: vec![],
            cursor: None,
        }),
        Operation::Statistics => LogAnswer::Statistics(Statistics {
            containers: 0,
            logs: 0,
        }),
        Operation::Histogram => LogAnswer::Histogram(Histogram::from_buckets(vec![])),
        Operation::Export => {
            let (_, lines) = mpsc::channel(1);
            let (done_tx, done) = oneshot::channel();
            let _ = done_tx.send(Ok(()));
            LogAnswer::Export(LogExport {
                format: request.format,
                lines,
                done,
            })
        }
    }
}
