//! Client for a Prometheus-compatible query API (Prometheus, Thanos Query).
//!
//! Responses are streamed back as bytes, never decoded and re-encoded, so what a
//! client receives through Periscope is byte-for-byte what Prometheus sent.

pub mod remote_write;

pub use remote_write::RemoteWriter;

use bytes::Bytes;
use futures::Stream;
use periscope_model::{Error, ErrorKind, Result};
use serde::Deserialize;
use std::time::Duration;

/// How long establishing a TCP connection to Prometheus may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP method used towards Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Parameters in the URL query string.
    Get,
    /// Parameters in an `application/x-www-form-urlencoded` body.
    Post,
}

/// An upstream answer whose body has not been read yet.
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// Body length, when Prometheus announced it.
    pub content_length: Option<u64>,
    inner: reqwest::Response,
}

impl UpstreamResponse {
    /// The body as a stream of chunks.
    pub fn into_stream(
        self,
    ) -> impl Stream<Item = std::result::Result<Bytes, reqwest::Error>> + Send {
        self.inner.bytes_stream()
    }

    /// The whole body (for the few internal calls that decode it).
    pub async fn bytes(self) -> Result<Bytes> {
        self.inner.bytes().await.map_err(upstream_error)
    }
}

/// One Prometheus endpoint.
#[derive(Clone)]
pub struct PrometheusClient {
    base_url: String,
    timeout: Duration,
    http: reqwest::Client,
}

impl PrometheusClient {
    /// A client for the Prometheus at `base_url` (e.g. `http://127.0.0.1:9090`);
    /// `timeout` bounds every request, body included.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::internal(format!("building HTTP client: {e}")))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
            http,
        })
    }

    /// Sends `params` to `path` (e.g. `/api/v1/query`) and returns the response
    /// unread. `timeout` shortens the client's own bound for this request.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        params: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<UpstreamResponse> {
        let url = format!("{}{}", self.base_url, path);
        let request = match method {
            Method::Get => self.http.get(&url).query(params),
            Method::Post => {
                let body = form_body(params);
                self.http
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            }
        };
        let timeout = timeout.map_or(self.timeout, |t| t.min(self.timeout));
        let inner = request
            .timeout(timeout)
            .send()
            .await
            .map_err(upstream_error)?;
        let content_type = inner
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(UpstreamResponse {
            status: inner.status().as_u16(),
            content_type,
            content_length: inner.content_length(),
            inner,
        })
    }

    /// Whether Prometheus reports itself ready (`/-/ready`).
    pub async fn ready(&self, timeout: Duration) -> Result<()> {
        let response = self
            .http
            .get(format!("{}/-/ready", self.base_url))
            .timeout(timeout)
            .send()
            .await
            .map_err(upstream_error)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!(
                    "prometheus at {} is not ready (HTTP {})",
                    self.base_url,
                    response.status()
                ),
            ))
        }
    }

    /// Runs an instant query and decodes its vector result (for Periscope's own
    /// internal queries, such as workspace discovery).
    pub async fn instant_vector(&self, query: &str) -> Result<Vec<VectorSample>> {
        let response = self
            .send(
                Method::Post,
                "/api/v1/query",
                &[("query".into(), query.into())],
                None,
            )
            .await?;
        let status = response.status;
        let body = response.bytes().await?;
        let decoded: ApiResponse<QueryData> = serde_json::from_slice(&body).map_err(|e| {
            Error::new(
                ErrorKind::BackendUnavailable,
                format!("undecodable answer from prometheus (HTTP {status}): {e}"),
            )
        })?;
        match decoded {
            ApiResponse {
                status,
                data: Some(QueryData::Vector(v)),
                ..
            } if status == "success" => Ok(v),
            ApiResponse { error, .. } => Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!(
                    "prometheus query failed: {}",
                    error.unwrap_or_else(|| "not a vector result".into())
                ),
            )),
        }
    }
}

/// The Prometheus API envelope.
#[derive(Debug, Deserialize)]
pub struct ApiResponse<T> {
    pub status: String,
    pub data: Option<T>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(rename = "errorType", default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `data` of a query or query_range answer.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData {
    Vector(Vec<VectorSample>),
    Matrix(Vec<MatrixSeries>),
    Scalar(SamplePair),
    String(StringPair),
}

/// One series of an instant vector.
#[derive(Debug, Deserialize)]
pub struct VectorSample {
    pub metric: std::collections::BTreeMap<String, String>,
    pub value: SamplePair,
}

/// One series of a range matrix.
#[derive(Debug, Deserialize)]
pub struct MatrixSeries {
    pub metric: std::collections::BTreeMap<String, String>,
    pub values: Vec<SamplePair>,
}

/// `[timestamp_seconds, "value"]`.
#[derive(Debug, Deserialize)]
pub struct SamplePair(pub f64, pub String);

/// `[timestamp_seconds, "string"]`.
#[derive(Debug, Deserialize)]
pub struct StringPair(pub f64, pub String);

fn form_body(params: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&urlencode(k));
        out.push('=');
        out.push_str(&urlencode(v));
    }
    out
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn upstream_error(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::new(ErrorKind::Timeout, "prometheus did not answer in time")
    } else if e.is_connect() {
        Error::new(
            ErrorKind::BackendUnavailable,
            format!("cannot reach prometheus: {e}"),
        )
    } else {
        Error::new(
            ErrorKind::BackendUnavailable,
            format!("prometheus request failed: {e}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_are_percent_encoded() {
        let body = form_body(&[
            ("query".into(), "up{a=\"b c\"}+1".into()),
            ("match[]".into(), "x".into()),
        ]);
        assert_eq!(body, "query=up%7Ba%3D%22b+c%22%7D%2B1&match%5B%5D=x");
    }

    #[test]
    fn query_results_decode() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a"},"value":[1700000000.5,"NaN"]}]}}"#;
        let r: ApiResponse<QueryData> = serde_json::from_slice(body).unwrap();
        let Some(QueryData::Vector(v)) = r.data else {
            panic!()
        };
        assert_eq!(v[0].metric["namespace"], "a");
        assert!(v[0].value.1.parse::<f64>().unwrap().is_nan());
        assert_eq!("+Inf".parse::<f64>().unwrap(), f64::INFINITY);
    }
}
