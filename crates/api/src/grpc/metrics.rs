//! `periscope.v1.Metrics`: the same queries as the HTTP API, with typed results.

use crate::error::to_status;
use crate::query::{decode_query, Forwarded, InstantQuery, RangeQuery};
use crate::state::{AppState, Caller};
use periscope_backend_prometheus::{QueryData, SamplePair};
use periscope_model::{Error, ErrorKind, Result};
use periscope_proto::v1::{
    metrics_server::Metrics, QueryRangeRequest, QueryRequest, QueryResponse, ResultType, Sample,
    Series,
};
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

pub(crate) struct MetricsService {
    pub(crate) state: Arc<AppState>,
}

#[tonic::async_trait]
impl Metrics for MetricsService {
    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let caller = caller_of(&self.state, &request)?;
            let r = request.get_ref();
            let cluster = self.state.cluster(Some(&r.cluster))?;
            let q = InstantQuery {
                query: r.query.clone(),
                time: r.time.map(|t| t.to_string()),
                timeout: r.timeout_seconds.map(|t| t.to_string()),
            };
            decode(self.state.instant_query(&caller, cluster, q).await?).await
        }
        .await;
        self.finish("/periscope.v1.Metrics/Query", started, result)
    }

    async fn query_range(
        &self,
        request: Request<QueryRangeRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let caller = caller_of(&self.state, &request)?;
            let r = request.get_ref();
            let cluster = self.state.cluster(Some(&r.cluster))?;
            let q = RangeQuery {
                query: r.query.clone(),
                start: r.start.to_string(),
                end: r.end.to_string(),
                step: Some(r.step_seconds.to_string()),
                timeout: r.timeout_seconds.map(|t| t.to_string()),
            };
            decode(self.state.range_query(&caller, cluster, q).await?).await
        }
        .await;
        self.finish("/periscope.v1.Metrics/QueryRange", started, result)
    }
}

/// The caller, authenticated from the `authorization` metadata entry.
pub(crate) fn caller_of<T>(state: &AppState, request: &Request<T>) -> Result<Caller> {
    let header = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    state.caller(header)
}

impl MetricsService {
    fn finish(
        &self,
        endpoint: &str,
        started: Instant,
        result: Result<QueryResponse>,
    ) -> Result<Response<QueryResponse>, Status> {
        let status = match &result {
            Ok(_) => 200,
            Err(e) => crate::error::http_status(e.kind()).as_u16(),
        };
        self.state
            .telemetry
            .observe_request(endpoint, status, started.elapsed());
        result.map(Response::new).map_err(to_status)
    }
}

/// Decodes Prometheus' JSON answer into the typed response, mapping upstream
/// errors to error kinds by their HTTP status and `errorType`.
async fn decode(forwarded: Forwarded) -> Result<QueryResponse> {
    let status = forwarded.response.status;
    let body = forwarded.response.bytes().await?;
    drop(forwarded.permit);
    let decoded = decode_query(status, &body)?;
    let mut out = QueryResponse {
        warnings: decoded.warnings,
        ..Default::default()
    };
    match decoded.data {
        Some(QueryData::Vector(v)) => {
            out.result_type = ResultType::Vector as i32;
            out.series = v
                .into_iter()
                .map(|s| {
                    Ok(Series {
                        labels: s.metric.into_iter().collect(),
                        samples: vec![sample(&s.value)?],
                    })
                })
                .collect::<Result<_>>()?;
        }
        Some(QueryData::Matrix(m)) => {
            out.result_type = ResultType::Matrix as i32;
            out.series = m
                .into_iter()
                .map(|s| {
                    Ok(Series {
                        labels: s.metric.into_iter().collect(),
                        samples: s.values.iter().map(sample).collect::<Result<_>>()?,
                    })
                })
                .collect::<Result<_>>()?;
        }
        Some(QueryData::Scalar(p)) => {
            out.result_type = ResultType::Scalar as i32;
            out.scalar = Some(sample(&p)?);
        }
        Some(QueryData::String(s)) => {
            out.result_type = ResultType::String as i32;
            out.string_value = Some(s.1);
        }
        None => {
            return Err(Error::new(
                ErrorKind::BackendUnavailable,
                "prometheus answered success without data",
            ))
        }
    }
    Ok(out)
}

fn sample(pair: &SamplePair) -> Result<Sample> {
    let value = pair.1.parse::<f64>().map_err(|_| {
        Error::new(
            ErrorKind::BackendUnavailable,
            format!("prometheus sent a non-numeric sample {:?}", pair.1),
        )
    })?;
    Ok(Sample {
        timestamp: pair.0,
        value,
    })
}
