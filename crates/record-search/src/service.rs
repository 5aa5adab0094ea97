//! One interface for where records are kept ([`RecordBackend`]: the embedded
//! store or Elasticsearch) and the one way a search is answered over it
//! ([`answer`]): nothing asked of the backend for an empty scope, every
//! operation bounded in time, exports streamed with back-pressure.

use crate::params::{Operation, Search};
use crate::response::{Histogram, Page, Statistics};
use futures::future::BoxFuture;
use periscope_model::{Error, ErrorKind, Result};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What an ingest stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Records written (new ones and updates of known ones).
    pub stored: usize,
    /// Reports that added nothing: re-deliveries, and reports folded into a
    /// later one of the same record in the same batch.
    pub duplicates: usize,
}

/// A chunk of exported records.
pub type Chunk = Vec<Box<RawValue>>;

/// Where one cluster's records of a signal are kept.
pub trait RecordBackend: Send + Sync {
    type Record: Send + 'static;
    type Filter: Send + Sync + 'static;

    /// Stores records; returns once they are durable.
    fn ingest(&self, records: Vec<Self::Record>) -> BoxFuture<'_, Result<Ingested>>;
    /// A page of records in `search`'s order and the total.
    fn query<'a>(
        &'a self,
        filter: &'a Self::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Page>>;
    /// Distinct resources and record counts.
    fn statistics<'a>(
        &'a self,
        filter: &'a Self::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Statistics>>;
    /// Record counts per `search.interval`.
    fn histogram<'a>(
        &'a self,
        filter: &'a Self::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Histogram>>;
    /// Sends every matching record into `out`, in `search`'s order; waits
    /// while it is full and stops when it is gone.
    fn export<'a>(
        &'a self,
        filter: &'a Self::Filter,
        search: &'a Search,
        out: mpsc::Sender<Chunk>,
    ) -> BoxFuture<'a, Result<()>>;
}

/// The answer to a search.
pub enum Answer {
    Page(Page),
    Statistics(Statistics),
    Histogram(Histogram),
    Export(Export),
}

/// A running export: chunks of records, then how it ended.
pub struct Export {
    pub records: mpsc::Receiver<Chunk>,
    /// Ok when every record was sent; an error cut the export short.
    pub done: oneshot::Receiver<Result<()>>,
}

/// Chunks in flight between an export and its client.
const EXPORT_BUFFER: usize = 4;

/// Answers `search` over `backend`. `visible` is false when the caller's
/// scope leaves nothing to see (then the backend is not asked); `slot` is
/// held until the answer is complete (an export's end included).
pub async fn answer<B, S>(
    backend: Arc<B>,
    filter: B::Filter,
    search: Search,
    visible: bool,
    timeout: Duration,
    slot: S,
) -> Result<Answer>
where
    B: RecordBackend + ?Sized + 'static,
    S: Send + 'static,
{
    if !visible {
        return Ok(empty(search.operation));
    }
    let answer = match search.operation {
        Operation::Query => {
            Answer::Page(within(timeout, "search", backend.query(&filter, &search)).await?)
        }
        Operation::Statistics => Answer::Statistics(
            within(timeout, "statistics", backend.statistics(&filter, &search)).await?,
        ),
        Operation::Histogram => Answer::Histogram(
            within(timeout, "histogram", backend.histogram(&filter, &search)).await?,
        ),
        Operation::Export => {
            let (records_tx, records) = mpsc::channel(EXPORT_BUFFER);
            let (done_tx, done) = oneshot::channel();
            tokio::spawn(async move {
                let _slot = slot;
                let result = backend.export(&filter, &search, records_tx).await;
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "export failed");
                }
                let _ = done_tx.send(result);
            });
            return Ok(Answer::Export(Export { records, done }));
        }
    };
    Ok(answer)
}

/// `work`, or a timeout error naming `what` once `timeout` has passed.
async fn within<T>(
    timeout: Duration,
    what: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("the {what} took longer than {timeout:?}"),
            ))
        })
}

/// The answer when nothing is visible.
fn empty(operation: Operation) -> Answer {
    match operation {
        Operation::Query => Answer::Page(Page::empty()),
        Operation::Statistics => Answer::Statistics(Statistics {
            resources: 0,
            events: 0,
        }),
        Operation::Histogram => Answer::Histogram(Histogram::from_buckets(vec![])),
        Operation::Export => {
            let (_, records) = mpsc::channel(1);
            let (done_tx, done) = oneshot::channel();
            let _ = done_tx.send(Ok(()));
            Answer::Export(Export { records, done })
        }
    }
}
