//! The log API's answers, in KubeSphere's JSON shapes (plus a paging cursor).

use serde::{Deserialize, Serialize};

/// One line as the query operation returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub log: String,
    /// Unix ns; RFC 3339 UTC in JSON.
    #[serde(with = "rfc3339")]
    pub time: i64,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// A page: `{"query": {"total", "records", "cursor"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryPage {
    /// Every matching line, not just this page's.
    pub total: u64,
    pub records: Vec<LogLine>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cursor: Option<String>,
}

/// `{"statistics": {"containers", "logs"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    /// Distinct containers (`docker_id`) with matching lines.
    pub containers: u64,
    pub logs: u64,
}

/// `{"histogram": {"total", "histograms"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    pub total: u64,
    pub histograms: Vec<HistogramBucket>,
}

impl Histogram {
    /// A histogram of these buckets; the total is their sum.
    pub fn from_buckets(histograms: Vec<HistogramBucket>) -> Histogram {
        Histogram {
            total: histograms.iter().map(|b| b.count).sum(),
            histograms,
        }
    }
}

/// Lines in `[time, time + interval)`; `time` in Unix ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBucket {
    pub time: i64,
    pub count: u64,
}

/// Unix ns as RFC 3339 text in JSON.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::format_time(*ns))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        crate::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
    }
}

/// Lines (and bytes, where the backend knows them) of one stream — one
/// namespace, pod and container — in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamVolume {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The bucket's start, Unix ns (0 without buckets).
    pub bucket: i64,
    pub lines: u64,
    /// Bytes of the lines' text; `None` when the backend cannot tell.
    pub bytes: Option<u64>,
}

/// Most streams × buckets one volume answer may hold.
pub const MAX_STREAM_VOLUMES: usize = 100_000;

/// The error for a volume answer past [`MAX_STREAM_VOLUMES`].
pub fn too_many_streams() -> periscope_model::Error {
    periscope_model::Error::new(
        periscope_model::ErrorKind::LimitExceeded,
        format!("more than {MAX_STREAM_VOLUMES} streams and buckets; narrow the selector, the time range or use a larger step"),
    )
}
