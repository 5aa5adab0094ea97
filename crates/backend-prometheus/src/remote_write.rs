//! Prometheus remote write (protocol 1.0): series written to the cluster's
//! Prometheus (recording rule results, metrics generated from spans) as a
//! snappy-compressed protobuf `WriteRequest`.

use prost::Message;
use std::collections::BTreeMap;
use std::time::Duration;

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix ms.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// Posts series to a remote-write endpoint.
#[derive(Debug)]
pub struct RemoteWriter {
    url: String,
    http: reqwest::Client,
}

impl RemoteWriter {
    /// A writer to `url` (e.g. `http://prometheus:9090/api/v1/write`).
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            url: url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?,
        })
    }

    /// Writes one sample per series (labels must include `__name__`; a
    /// `BTreeMap` keeps them sorted by name as the protocol requires).
    pub async fn write(
        &self,
        series: Vec<(BTreeMap<String, String>, f64)>,
        timestamp_ms: i64,
    ) -> Result<(), String> {
        self.write_series(
            series
                .into_iter()
                .map(|(labels, value)| TimeSeries {
                    labels: labels
                        .into_iter()
                        .map(|(name, value)| Label { name, value })
                        .collect(),
                    samples: vec![Sample {
                        value,
                        timestamp: timestamp_ms,
                    }],
                })
                .collect(),
        )
        .await
    }

    /// Writes series as given: labels sorted by name, samples in time order.
    pub async fn write_series(&self, timeseries: Vec<TimeSeries>) -> Result<(), String> {
        if timeseries.is_empty() {
            return Ok(());
        }
        let request = WriteRequest { timeseries };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .post(&self.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("remote write: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            Err(format!("remote write: HTTP {status}: {}", text.trim()))
        }
    }
}
