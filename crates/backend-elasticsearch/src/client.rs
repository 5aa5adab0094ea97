//! The Elasticsearch/OpenSearch log backend: requests built by [`crate::dsl`],
//! answers read by [`crate::response`], over one HTTP client with a timeout,
//! authentication and version detection.

use crate::connection::{Connection, ConnectionConfig};
use crate::dsl::{self, Paging};
use crate::indices;
use crate::response::{self, Hits};
use crate::version::Server;
use periscope_config::ElasticsearchConfig;
use periscope_logs::response::{too_many_streams, MAX_STREAM_VOLUMES};
use periscope_logs::{
    Cursor, Histogram, LogFilter, LogLine, LogRequest, QueryPage, SortOrder, Statistics,
    StreamVolume,
};
use periscope_model::{Error, ErrorKind, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Hits per request of an export.
const EXPORT_PAGE: usize = 1000;
/// Streams asked for at a time in a volume search.
const VOLUME_PAGE: usize = 1000;

/// Logs read from an Elasticsearch or OpenSearch cluster.
pub struct ElasticsearchLogs {
    connection: Connection,
    config: ElasticsearchConfig,
}

impl ElasticsearchLogs {
    /// A backend for the configured cluster (nothing is sent until the first query).
    pub fn new(config: &ElasticsearchConfig) -> Result<Self> {
        Ok(Self {
            connection: Connection::new(&ConnectionConfig::of(config))?,
            config: config.clone(),
        })
    }

    /// The server's kind and version (asked once with `GET /`).
    pub async fn server(&self) -> Result<Server> {
        self.connection.server().await
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        self.connection.send(method, path, body).await
    }

    fn index(&self, filter: &LogFilter) -> String {
        indices::resolve(&self.config.index_prefix, filter.start, filter.end)
    }

    async fn open_point_in_time(&self, index: &str) -> Result<String> {
        let opened = self
            .send(
                Method::POST,
                &format!("/{index}/_pit?keep_alive=5m&ignore_unavailable=true"),
                None,
            )
            .await?;
        opened["id"].as_str().map(str::to_string).ok_or_else(|| {
            Error::new(
                ErrorKind::BackendUnavailable,
                "Elasticsearch opened a point in time without an id",
            )
        })
    }

    /// One page: in the point in time `pit` when there is one.
    async fn page(
        &self,
        filter: &LogFilter,
        sort: SortOrder,
        size: usize,
        from: usize,
        after: Option<&[Value]>,
        pit: Option<&str>,
    ) -> Result<Hits> {
        let fields = &self.config.fields;
        match pit {
            Some(id) => {
                let body = dsl::page_body(
                    filter,
                    fields,
                    sort,
                    size,
                    from,
                    after,
                    Paging::PointInTime(id),
                );
                response::hits(
                    &self.send(Method::POST, "/_search", Some(&body)).await?,
                    fields,
                )
            }
            None => {
                let body = dsl::page_body(filter, fields, sort, size, from, after, Paging::Indices);
                let path = format!(
                    "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
                    self.index(filter)
                );
                response::hits(&self.send(Method::POST, &path, Some(&body)).await?, fields)
            }
        }
    }

    /// A page of lines and the total; the cursor carries the point in time.
    pub async fn query(&self, request: &LogRequest) -> Result<QueryPage> {
        let server = self.server().await?;
        // Cursor: [point in time id or null, sort values of the last hit...].
        let (pit, after) = match &request.cursor {
            Some(c) => match c.after.split_first() {
                Some((pit, after)) => (pit.as_str().map(str::to_string), Some(after)),
                None => {
                    return Err(Error::bad_request(
                        "parameter \"cursor\" is not a cursor this API returned",
                    ))
                }
            },
            None => (None, None),
        };
        let pit = match pit {
            Some(id) => Some(id),
            None if server.point_in_time() => Some(
                self.open_point_in_time(&self.index(&request.filter))
                    .await?,
            ),
            None => None,
        };
        let hits = self
            .page(
                &request.filter,
                request.sort,
                request.size,
                request.from,
                after,
                pit.as_deref(),
            )
            .await?;
        let cursor = (request.size > 0 && hits.lines.len() == request.size)
            .then_some(hits.last_sort)
            .flatten()
            .map(|sort| {
                let pit = hits.pit_id.or(pit).map_or(Value::Null, Value::String);
                Cursor {
                    order: request.sort,
                    after: std::iter::once(pit).chain(sort).collect(),
                }
                .encode()
            });
        Ok(QueryPage {
            total: hits.total,
            records: hits.lines,
            cursor,
        })
    }

    /// Line and container counts.
    pub async fn statistics(&self, filter: &LogFilter) -> Result<Statistics> {
        let path = format!(
            "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
            self.index(filter)
        );
        let body = self
            .send(
                Method::POST,
                &path,
                Some(&dsl::statistics_body(filter, &self.config.fields)),
            )
            .await?;
        let (logs, containers) = response::statistics(&body)?;
        Ok(Statistics { containers, logs })
    }

    /// Line counts per bucket.
    pub async fn histogram(&self, filter: &LogFilter, interval: i64) -> Result<Histogram> {
        let path = format!(
            "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
            self.index(filter)
        );
        let body = self
            .send(
                Method::POST,
                &path,
                Some(&dsl::histogram_body(filter, &self.config.fields, interval)),
            )
            .await?;
        let histograms = response::histogram(&body)?;
        Ok(Histogram::from_buckets(histograms))
    }

    /// Lines per stream (and `bucket`-ns bucket), page after page of a
    /// `composite` aggregation. Elasticsearch does not report the bytes.
    pub async fn volume(
        &self,
        filter: &LogFilter,
        bucket: Option<i64>,
    ) -> Result<Vec<StreamVolume>> {
        let path = format!(
            "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
            self.index(filter)
        );
        let mut out = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let body = dsl::volume_body(
                filter,
                &self.config.fields,
                bucket,
                after.as_ref(),
                VOLUME_PAGE,
            );
            let response = self.send(Method::POST, &path, Some(&body)).await?;
            let (page, next) = response::volume(&response)?;
            let done = page.len() < VOLUME_PAGE;
            out.extend(page);
            if out.len() > MAX_STREAM_VOLUMES {
                return Err(too_many_streams());
            }
            match next {
                Some(key) if !done => after = Some(key),
                _ => return Ok(out),
            }
        }
    }

    /// Every matching line, page after page (`search_after`, in a point in
    /// time where the server has one), sent as each page arrives.
    pub async fn export(
        &self,
        filter: &LogFilter,
        order: SortOrder,
        out: mpsc::Sender<Vec<LogLine>>,
    ) -> Result<()> {
        let mut pit = match self.server().await?.point_in_time() {
            true => Some(self.open_point_in_time(&self.index(filter)).await?),
            false => None,
        };
        let mut after: Option<Vec<Value>> = None;
        let result = loop {
            let hits = match self
                .page(
                    filter,
                    order,
                    EXPORT_PAGE,
                    0,
                    after.as_deref(),
                    pit.as_deref(),
                )
                .await
            {
                Ok(h) => h,
                Err(e) => break Err(e),
            };
            let done = hits.lines.len() < EXPORT_PAGE;
            pit = hits.pit_id.or(pit);
            after = hits.last_sort;
            if !hits.lines.is_empty() && out.send(hits.lines).await.is_err() {
                break Ok(());
            }
            if done || after.is_none() {
                break Ok(());
            }
        };
        if let Some(id) = pit {
            if let Err(e) = self
                .send(Method::DELETE, "/_pit", Some(&json!({"id": id})))
                .await
            {
                tracing::debug!(error = %e, "closing a point in time failed; it expires on its own");
            }
        }
        result
    }
}
