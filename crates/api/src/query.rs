//! The query operations shared by the HTTP and gRPC surfaces: admission
//! (limits), tenant enforcement and the upstream call.

use crate::state::{AppState, Caller, Cluster};
use crate::time::{parse_duration, parse_time};
use periscope_backend_prometheus::{ApiResponse, Method, QueryData, UpstreamResponse};
use periscope_model::{Error, ErrorKind, Result, Scope};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

/// Extra time the HTTP client waits beyond the query timeout, so Prometheus can
/// report its own timeout error before the connection is cut.
const UPSTREAM_GRACE: Duration = Duration::from_secs(2);

/// Most bytes of `match[]` sent in one GET request (URLs have practical limits).
const MAX_GET_MATCH_BYTES: usize = 16 * 1024;

/// Namespaces per request when a label-values request has to be split.
const NAMESPACES_PER_REQUEST: usize = 500;

/// An upstream response and the concurrency permit to hold while it streams.
pub(crate) struct Forwarded {
    pub response: UpstreamResponse,
    pub permit: Option<OwnedSemaphorePermit>,
}

impl Forwarded {
    /// Reads a label-values answer (a list of strings); a Prometheus error
    /// becomes [`ErrorKind::BackendUnavailable`].
    pub(crate) async fn label_values(self) -> Result<Vec<String>> {
        let status = self.response.status;
        let body = self.response.bytes().await?;
        let decoded: ApiResponse<Vec<String>> = serde_json::from_slice(&body).map_err(|e| {
            Error::new(
                ErrorKind::BackendUnavailable,
                format!("undecodable label values from prometheus (HTTP {status}): {e}"),
            )
        })?;
        if decoded.status != "success" {
            let reason = decoded.error.unwrap_or_else(|| format!("HTTP {status}"));
            return Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!("prometheus label values failed: {reason}"),
            ));
        }
        Ok(decoded.data.unwrap_or_default())
    }
}

/// Label values: Prometheus' body streamed through, or merged from several
/// requests when the scope had to be split.
pub(crate) enum LabelValues {
    Streamed(Forwarded),
    Merged(Vec<String>),
}

/// Parameters of an instant query.
pub(crate) struct InstantQuery {
    pub query: String,
    pub time: Option<String>,
    pub timeout: Option<String>,
}

/// Parameters of a range query (also used, without step, for exemplars).
pub(crate) struct RangeQuery {
    pub query: String,
    pub start: String,
    pub end: String,
    pub step: Option<String>,
    pub timeout: Option<String>,
}

impl AppState {
    /// `/api/v1/query`.
    pub(crate) async fn instant_query(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        q: InstantQuery,
    ) -> Result<Forwarded> {
        let limits = &caller.principal.limits;
        let query = self
            .enforcer
            .enforce_query(&q.query, &caller.scope, limits)?;
        let mut params = vec![("query".to_string(), query.into_owned())];
        if let Some(time) = q.time {
            parse_time("time", &time)?;
            params.push(("time".into(), time));
        }
        let timeout = self.effective_timeout(caller, q.timeout.as_deref())?;
        params.push(("timeout".into(), format!("{}ms", timeout.as_millis())));
        self.forward(
            caller,
            cluster,
            Method::Post,
            "/api/v1/query",
            params,
            timeout,
        )
        .await
    }

    /// `/api/v1/query_range`.
    pub(crate) async fn range_query(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        q: RangeQuery,
    ) -> Result<Forwarded> {
        let limits = &caller.principal.limits;
        let step_text = q
            .step
            .ok_or_else(|| Error::bad_request("missing parameter \"step\""))?;
        let start = parse_time("start", &q.start)?;
        let end = parse_time("end", &q.end)?;
        let step = parse_duration("step", &step_text)?;
        check_range(start, end, limits.max_range)?;
        let points = ((end - start) / step.as_secs_f64()).floor() as u64 + 1;
        if points > limits.max_points_per_series {
            return Err(Error::limit(format!(
                "exceeded maximum resolution of {} points per timeseries ({points} requested); try decreasing the query resolution (?step=XX)",
                limits.max_points_per_series
            )));
        }
        let query = self
            .enforcer
            .enforce_query(&q.query, &caller.scope, limits)?;
        let timeout = self.effective_timeout(caller, q.timeout.as_deref())?;
        let params = vec![
            ("query".to_string(), query.into_owned()),
            ("start".into(), q.start),
            ("end".into(), q.end),
            ("step".into(), step_text),
            ("timeout".into(), format!("{}ms", timeout.as_millis())),
        ];
        self.forward(
            caller,
            cluster,
            Method::Post,
            "/api/v1/query_range",
            params,
            timeout,
        )
        .await
    }

    /// `/api/v1/query_exemplars`.
    pub(crate) async fn exemplars(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        q: RangeQuery,
    ) -> Result<Forwarded> {
        let limits = &caller.principal.limits;
        check_range(
            parse_time("start", &q.start)?,
            parse_time("end", &q.end)?,
            limits.max_range,
        )?;
        let query = self
            .enforcer
            .enforce_query(&q.query, &caller.scope, limits)?;
        let params = vec![
            ("query".to_string(), query.into_owned()),
            ("start".into(), q.start),
            ("end".into(), q.end),
        ];
        let timeout = self.effective_timeout(caller, None)?;
        self.forward(
            caller,
            cluster,
            Method::Post,
            "/api/v1/query_exemplars",
            params,
            timeout,
        )
        .await
    }

    /// `/api/v1/series` and `/api/v1/labels`: every `match[]` is scoped; none
    /// given means "all the caller may see".
    pub(crate) async fn matcher_api(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        method: Method,
        path: &str,
        matches: Vec<String>,
        rest: Vec<(String, String)>,
    ) -> Result<Forwarded> {
        check_times(&rest)?;
        let scoped = self.scoped_matches(&caller.scope, &matches)?;
        self.send_matches(caller, cluster, method, path, scoped, rest)
            .await
    }

    /// `/api/v1/label/<name>/values`. Prometheus takes this one only as GET, so
    /// when the scoped `match[]` would make the URL too long (thousands of
    /// namespaces), the request is validated against the whole scope, then sent
    /// once per chunk of namespaces and the value sets are merged.
    pub(crate) async fn label_values(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        name: &str,
        matches: Vec<String>,
        rest: Vec<(String, String)>,
    ) -> Result<LabelValues> {
        check_times(&rest)?;
        let path = format!("/api/v1/label/{name}/values");
        let scoped = self.scoped_matches(&caller.scope, &matches)?;
        let namespaces = match &caller.scope {
            Scope::Namespaces(namespaces)
                if scoped.iter().map(String::len).sum::<usize>() > MAX_GET_MATCH_BYTES =>
            {
                namespaces
            }
            _ => {
                let forwarded = self
                    .send_matches(caller, cluster, Method::Get, &path, scoped, rest)
                    .await?;
                return Ok(LabelValues::Streamed(forwarded));
            }
        };
        let namespaces: Vec<&String> = namespaces.iter().collect();
        let mut values = BTreeSet::new();
        for chunk in namespaces.chunks(NAMESPACES_PER_REQUEST) {
            let chunk_scope = Scope::namespaces(chunk.iter().map(|n| n.to_string()));
            let chunk_matches = match self.scoped_matches(&chunk_scope, &matches) {
                Ok(m) => m,
                // The whole scope was accepted above: a refusal for one chunk
                // only means the selectors select nothing in it.
                Err(e) if e.kind() == ErrorKind::Forbidden => continue,
                Err(e) => return Err(e),
            };
            let forwarded = self
                .send_matches(
                    caller,
                    cluster,
                    Method::Get,
                    &path,
                    chunk_matches,
                    rest.clone(),
                )
                .await?;
            values.extend(forwarded.label_values().await?);
        }
        Ok(LabelValues::Merged(values.into_iter().collect()))
    }

    /// The `match[]` values to forward for `matches` under `scope`.
    fn scoped_matches(&self, scope: &Scope, matches: &[String]) -> Result<Vec<String>> {
        if matches.is_empty() {
            return Ok(self.enforcer.default_matches(scope)?.unwrap_or_default());
        }
        matches
            .iter()
            .map(|m| {
                self.enforcer
                    .enforce_match(m, scope)
                    .map(|c| c.into_owned())
            })
            .collect()
    }

    async fn send_matches(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        method: Method,
        path: &str,
        matches: Vec<String>,
        mut rest: Vec<(String, String)>,
    ) -> Result<Forwarded> {
        let mut params: Vec<(String, String)> = matches
            .into_iter()
            .map(|m| ("match[]".to_string(), m))
            .collect();
        params.append(&mut rest);
        let timeout = self.effective_timeout(caller, None)?;
        self.forward(caller, cluster, method, path, params, timeout)
            .await
    }

    /// Sends a request upstream under the caller's concurrency limit.
    pub(crate) async fn forward(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        method: Method,
        path: &str,
        params: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<Forwarded> {
        let limits = &caller.principal.limits;
        let permit = self
            .limiter
            .try_acquire(&caller.principal.name, limits.max_concurrent_queries)?;
        let response = self
            .upstream(cluster, method, path, params, timeout)
            .await?;
        Ok(Forwarded {
            response,
            permit: Some(permit),
        })
    }

    /// Sends a request upstream (the caller holds the concurrency permit),
    /// timed and counted.
    pub(crate) async fn upstream(
        &self,
        cluster: &Cluster,
        method: Method,
        path: &str,
        params: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<UpstreamResponse> {
        let started = Instant::now();
        let result = cluster
            .prometheus
            .send(method, path, &params, Some(timeout + UPSTREAM_GRACE))
            .await;
        let outcome = match &result {
            Ok(r) => r.status.to_string(),
            Err(e) => e.kind().prometheus_error_type().to_string(),
        };
        self.telemetry
            .observe_backend(&cluster.name, path, &outcome, started.elapsed());
        if let Err(e) = &result {
            tracing::warn!(cluster = %cluster.name, path, error = %e, "backend request failed");
        }
        result
    }

    pub(crate) fn effective_timeout(
        &self,
        caller: &Caller,
        requested: Option<&str>,
    ) -> Result<Duration> {
        let max = caller.principal.limits.query_timeout;
        Ok(match requested {
            Some(t) => parse_duration("timeout", t)?.min(max),
            None => max,
        })
    }
}

/// Decodes Prometheus' JSON answer to a query, mapping its errors to error
/// kinds by HTTP status and `errorType`.
pub(crate) fn decode_query(status: u16, body: &[u8]) -> Result<ApiResponse<QueryData>> {
    let decoded: ApiResponse<QueryData> = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::BackendUnavailable,
            format!("undecodable answer from prometheus (HTTP {status}): {e}"),
        )
    })?;
    if decoded.status != "success" {
        let message = decoded
            .error
            .unwrap_or_else(|| format!("prometheus answered HTTP {status}"));
        let kind = match (status, decoded.error_type.as_deref()) {
            (_, Some("timeout")) => ErrorKind::Timeout,
            (400 | 422, _) => ErrorKind::BadRequest,
            _ => ErrorKind::BackendUnavailable,
        };
        return Err(Error::new(kind, message));
    }
    Ok(decoded)
}

/// `start` and `end`, when given, must be timestamps.
fn check_times(params: &[(String, String)]) -> Result<()> {
    for (name, value) in params {
        if name == "start" || name == "end" {
            parse_time(name, value)?;
        }
    }
    Ok(())
}

pub(crate) fn check_range(start: f64, end: f64, max: Duration) -> Result<()> {
    if end < start {
        return Err(Error::bad_request(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    if end - start > max.as_secs_f64() {
        return Err(Error::limit(format!(
            "time range of {:.0}s exceeds the maximum of {}s",
            end - start,
            max.as_secs()
        )));
    }
    Ok(())
}
