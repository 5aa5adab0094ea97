//! The log API's answers, in KubeSphere's JSON shapes (plus a paging cursor).

use serde::{Deserialize, Serialize};

/// One line as the query operation returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub log: String,
    /// RFC 3339 UTC.
    pub time: String,
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

/// Lines in `[time, time + interval)`; `time` in Unix ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBucket {
    pub time: i64,
    pub count: u64,
}
