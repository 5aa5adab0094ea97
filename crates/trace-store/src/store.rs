//! The embedded trace backend: spans in the store, the trace operations in
//! DataFusion. Every read is narrowed by the caller's namespace set before
//! anything else; the trace service checks each span again.

use crate::table::{span_table, spans, tag_line, to_batch};
use futures::future::BoxFuture;
use periscope_model::{Error, Result};
use periscope_store::datafusion::arrow::array::{Array, AsArray, RecordBatch};
use periscope_store::datafusion::arrow::compute::cast;
use periscope_store::datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use periscope_store::datafusion::dataframe::DataFrame;
use periscope_store::datafusion::functions_aggregate::expr_fn::{count, max};
use periscope_store::datafusion::logical_expr::{Expr, JoinType};
use periscope_store::datafusion::prelude::{col, lit};
use periscope_store::{like_contains, Store, StoreOptions};
use periscope_traces::traceql::{Filter, Pushdown, TraceContext};
use periscope_traces::{
    Namespaces, Operation, Placement, RawEdge, Span, SpanQuery, TraceBackend, TraceId,
};
use std::sync::Arc;

/// Spans in an embedded store.
pub struct TraceStore {
    store: Arc<Store>,
}

/// Most spans one read of traces by id returns (a runaway trace is cut).
const MAX_SPANS_READ: usize = 100_000;

fn engine(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("trace query: {e}"))
}

/// `namespace IN (...)` for a scope, `false` for an empty one, nothing for
/// cluster-wide callers.
fn scope_filter(namespaces: &Namespaces) -> Option<Expr> {
    namespaces.as_ref().map(|set| {
        if set.is_empty() {
            lit(false)
        } else {
            col("namespace").in_list(set.iter().map(|n| lit(n.as_str())).collect(), false)
        }
    })
}

/// Conditions on the span table's columns (`None`: no condition).
struct Columns<'a> {
    service: Option<&'a str>,
    operation: Option<&'a str>,
    kind: Option<i32>,
    status: Option<i32>,
    min_duration: Option<i64>,
    max_duration: Option<i64>,
    /// Tags (span or resource) that must be present with this text.
    tags: &'a [(String, String)],
}

/// The column filters of `c` within `namespaces`.
fn column_filters(namespaces: &Namespaces, c: &Columns<'_>) -> Vec<Expr> {
    let mut filters: Vec<Expr> = scope_filter(namespaces).into_iter().collect();
    if let Some(s) = c.service {
        filters.push(col("service").eq(lit(s)));
    }
    if let Some(o) = c.operation {
        filters.push(col("operation").eq(lit(o)));
    }
    if let Some(k) = c.kind {
        filters.push(col("kind").eq(lit(k)));
    }
    if let Some(s) = c.status {
        filters.push(col("status_code").eq(lit(s)));
    }
    if let Some(d) = c.min_duration {
        filters.push(col("duration").gt_eq(lit(d)));
    }
    if let Some(d) = c.max_duration {
        filters.push(col("duration").lt_eq(lit(d)));
    }
    for (k, v) in c.tags {
        filters.push(col("tag_index").like(lit(like_contains(&format!("\n{}", tag_line(k, v))))));
    }
    filters
}

/// Most candidate spans one TraceQL search evaluates.
const MAX_EVALUATED_SPANS: usize = 200_000;

fn texts(batches: &[RecordBatch], column: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = cast(b.column(column), &DataType::Utf8).expect("text column");
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

impl TraceStore {
    /// Opens the span table in `options.dir`, replaying its write-ahead log.
    pub fn open(options: StoreOptions) -> Result<TraceStore> {
        Ok(TraceStore {
            store: Arc::new(Store::open(span_table(), options)?),
        })
    }

    /// The underlying table (to run its background task, or for statistics).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    async fn frame(&self, start: i64, end: i64, filters: Vec<Expr>) -> Result<DataFrame> {
        let frame = self.store.scan(start, end).await.map_err(Error::from)?;
        match filters.into_iter().reduce(Expr::and) {
            Some(f) => frame.filter(f).map_err(engine),
            None => Ok(frame),
        }
    }

    async fn find(&self, q: SpanQuery, namespaces: Namespaces) -> Result<Vec<TraceId>> {
        let filters = column_filters(
            &namespaces,
            &Columns {
                service: q.service.as_deref(),
                operation: q.operation.as_deref(),
                kind: q.kind,
                status: None,
                min_duration: q.min_duration,
                max_duration: q.max_duration,
                tags: &q.tags,
            },
        );
        self.newest_traces(filters, q.start, q.end, q.limit).await
    }

    /// Ids of the traces with a span matching `filters` in `[start, end]`,
    /// newest first by their latest such span (ties by id), at most `limit`.
    ///
    /// Long ranges are read newest part first (one partition, then twice as
    /// much each time) until `limit` traces are found: every trace found in a
    /// newer part has its latest match after anything an older part holds,
    /// so older parts cannot change the answer once it is full.
    async fn newest_traces(
        &self,
        filters: Vec<Expr>,
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<TraceId>> {
        let (start, end) = match self.store.time_bounds() {
            Some((first, last)) => (start.max(first), end.min(last)),
            None => return Ok(Vec::new()),
        };
        let mut found: Vec<TraceId> = Vec::new();
        let mut width = self.store.partition_ns().max(1);
        let mut part_end = end;
        while part_end >= start && found.len() < limit {
            let part_start = part_end.saturating_sub(width - 1).max(start);
            for id in self
                .newest_in(filters.clone(), part_start, part_end, limit)
                .await?
            {
                if found.len() < limit && !found.contains(&id) {
                    found.push(id);
                }
            }
            part_end = part_start.saturating_sub(1);
            width = width.saturating_mul(2);
        }
        Ok(found)
    }

    /// [`TraceStore::newest_traces`] over one stretch of time.
    async fn newest_in(
        &self,
        filters: Vec<Expr>,
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<TraceId>> {
        let batches = self
            .frame(start, end, filters)
            .await?
            .aggregate(
                vec![col("trace_id")],
                vec![max(col("start")).alias("latest")],
            )
            .and_then(|f| {
                f.sort(vec![
                    col("latest").sort(false, false),
                    col("trace_id").sort(true, false),
                ])
            })
            .and_then(|f| f.limit(0, Some(limit)))
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)?;
        Ok(texts(&batches, 0)
            .iter()
            .filter_map(|id| TraceId::parse(id).ok())
            .collect())
    }

    /// A TraceQL search: what the filter pushes down becomes column filters;
    /// when that is the whole filter the store answers alone, otherwise the
    /// newest candidate spans are read and the filter evaluated on them.
    async fn search_traceql(
        &self,
        filter: Arc<Filter>,
        start: i64,
        end: i64,
        namespaces: Namespaces,
        limit: usize,
    ) -> Result<Vec<TraceId>> {
        let p = Pushdown::of(&filter);
        let filters = column_filters(
            &namespaces,
            &Columns {
                service: p.service.as_deref(),
                operation: p.operation.as_deref(),
                kind: p.kind,
                status: p.status,
                min_duration: p.min_duration,
                max_duration: p.max_duration,
                tags: &p.tags,
            },
        );
        if p.exact {
            return self.newest_traces(filters, start, end, limit).await;
        }
        let batches = self
            .frame(start, end, filters)
            .await?
            .sort(vec![col("start").sort(false, false)])
            .and_then(|f| f.limit(0, Some(MAX_EVALUATED_SPANS)))
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)?;
        let mut candidates = Vec::new();
        for b in &batches {
            spans(b, &mut candidates);
        }
        // Filters over the trace root are finished by the trace service.
        let reads_root = filter.reads_root();
        let mut ids: Vec<TraceId> = Vec::new();
        for s in candidates {
            if ids.len() >= limit {
                break;
            }
            if (reads_root || filter.matches(&s, TraceContext::default()))
                && !ids.contains(&s.trace_id)
            {
                ids.push(s.trace_id);
            }
        }
        Ok(ids)
    }

    async fn read_traces(
        &self,
        ids: Vec<TraceId>,
        window: Option<(i64, i64)>,
    ) -> Result<Vec<Span>> {
        let (start, end) = window.unwrap_or((i64::MIN, i64::MAX));
        let mut ids: Vec<Expr> = ids.iter().map(|id| lit(id.to_hex32())).collect();
        // One id as an equality, which the bloom filters prune on best.
        let wanted = match ids.len() {
            1 => col("trace_id").eq(ids.remove(0)),
            _ => col("trace_id").in_list(ids, false),
        };
        let batches = self
            .frame(start, end, vec![wanted])
            .await?
            .limit(0, Some(MAX_SPANS_READ))
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)?;
        let mut out = Vec::new();
        for b in &batches {
            spans(b, &mut out);
        }
        Ok(out)
    }

    async fn distinct(&self, filters: Vec<Expr>, columns: Vec<Expr>) -> Result<Vec<RecordBatch>> {
        self.frame(i64::MIN, i64::MAX, filters)
            .await?
            .aggregate(columns, vec![])
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)
    }

    async fn list_services(&self, namespaces: Namespaces) -> Result<Vec<String>> {
        let batches = self
            .distinct(
                scope_filter(&namespaces).into_iter().collect(),
                vec![col("service")],
            )
            .await?;
        Ok(texts(&batches, 0))
    }

    async fn list_operations(
        &self,
        service: String,
        kind: Option<i32>,
        namespaces: Namespaces,
    ) -> Result<Vec<Operation>> {
        let mut filters: Vec<Expr> = scope_filter(&namespaces).into_iter().collect();
        filters.push(col("service").eq(lit(service)));
        if let Some(k) = kind {
            filters.push(col("kind").eq(lit(k)));
        }
        let batches = self
            .distinct(filters, vec![col("operation"), col("kind")])
            .await?;
        let names = texts(&batches, 0);
        let kinds = batches
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<Int32Type>().values().to_vec());
        Ok(names
            .into_iter()
            .zip(kinds)
            .map(|(name, kind)| Operation { name, kind })
            .collect())
    }

    async fn list_placements(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> Result<Vec<Placement>> {
        let columns = ["service", "namespace", "pod", "workload", "node"];
        let batches = self
            .frame(start, end, scope_filter(&namespaces).into_iter().collect())
            .await?
            .aggregate(
                columns.iter().map(|c| col(*c)).collect(),
                vec![count(lit(1)).alias("spans")],
            )
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)?;
        let text: Vec<Vec<String>> = (0..columns.len()).map(|i| texts(&batches, i)).collect();
        let spans = batches.iter().flat_map(|b| {
            b.column(columns.len())
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        });
        Ok(spans
            .enumerate()
            .map(|(i, spans)| Placement {
                service: text[0][i].clone(),
                namespace: text[1][i].clone(),
                pod: text[2][i].clone(),
                workload: text[3][i].clone(),
                node: text[4][i].clone(),
                spans: spans as u64,
            })
            .collect())
    }

    async fn list_edges(&self, start: i64, end: i64) -> Result<Vec<RawEdge>> {
        let spans = self.frame(start, end, vec![]).await?;
        let side = |frame: DataFrame, prefix: &str| {
            frame.select(
                [
                    "trace_id",
                    "span_id",
                    "parent_span_id",
                    "service",
                    "namespace",
                ]
                .iter()
                .map(|c| col(*c).alias(format!("{prefix}{c}")))
                .collect::<Vec<_>>(),
            )
        };
        let children = side(spans.clone(), "c_")
            .and_then(|f| f.filter(col("c_parent_span_id").not_eq(lit(""))))
            .map_err(engine)?;
        let parents = side(spans, "p_").map_err(engine)?;
        let batches = children
            .join(
                parents,
                JoinType::Inner,
                &["c_trace_id", "c_parent_span_id"],
                &["p_trace_id", "p_span_id"],
                Some(col("c_service").not_eq(col("p_service"))),
            )
            .and_then(|f| {
                f.aggregate(
                    vec![
                        col("p_service"),
                        col("p_namespace"),
                        col("c_service"),
                        col("c_namespace"),
                    ],
                    vec![count(lit(1)).alias("calls")],
                )
            })
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)?;
        let (ps, pn, cs, cn) = (
            texts(&batches, 0),
            texts(&batches, 1),
            texts(&batches, 2),
            texts(&batches, 3),
        );
        let calls = batches
            .iter()
            .flat_map(|b| b.column(4).as_primitive::<Int64Type>().values().to_vec());
        Ok(ps
            .into_iter()
            .zip(pn)
            .zip(cs.into_iter().zip(cn))
            .zip(calls)
            .map(
                |(
                    ((parent_service, parent_namespace), (child_service, child_namespace)),
                    calls,
                )| RawEdge {
                    parent_service,
                    parent_namespace,
                    child_service,
                    child_namespace,
                    calls: calls as u64,
                },
            )
            .collect())
    }
}

impl TraceBackend for TraceStore {
    fn ingest(&self, spans: Vec<Span>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.store
                .append(to_batch(&spans))
                .await
                .map_err(Error::from)
        })
    }

    fn find_traces(
        &self,
        query: SpanQuery,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<TraceId>>> {
        Box::pin(self.find(query, namespaces))
    }

    fn spans_of(
        &self,
        ids: Vec<TraceId>,
        window: Option<(i64, i64)>,
    ) -> BoxFuture<'_, Result<Vec<Span>>> {
        Box::pin(self.read_traces(ids, window))
    }

    fn services(&self, namespaces: Namespaces) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(self.list_services(namespaces))
    }

    fn operations(
        &self,
        service: String,
        kind: Option<i32>,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<Operation>>> {
        Box::pin(self.list_operations(service, kind, namespaces))
    }

    fn edges(&self, start: i64, end: i64, _: Namespaces) -> BoxFuture<'_, Result<Vec<RawEdge>>> {
        Box::pin(self.list_edges(start, end))
    }

    fn placements(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<Placement>>> {
        Box::pin(self.list_placements(start, end, namespaces))
    }

    fn search(
        &self,
        filter: Arc<Filter>,
        start: i64,
        end: i64,
        namespaces: Namespaces,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TraceId>>> {
        Box::pin(self.search_traceql(filter, start, end, namespaces, limit))
    }
}
