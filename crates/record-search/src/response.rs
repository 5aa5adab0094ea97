//! The answers, in KubeSphere's exact JSON shapes (plus a paging cursor).

use serde::Serialize;
use serde_json::value::RawValue;

/// `{"query": {"total", "records"}}`. `records` is `null` when nothing
/// matched, as KubeSphere answers (its clients accept it).
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// Every matching record, not just this page's.
    pub total: u64,
    /// The records as stored (the event or audit JSON).
    pub records: Option<Vec<Box<RawValue>>>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl Page {
    /// An empty page.
    pub fn empty() -> Page {
        Page {
            total: 0,
            records: None,
            cursor: None,
        }
    }
}

/// `{"statistics": {"resources", "events"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Statistics {
    /// Distinct involved objects (events) or distinct requests (audit).
    pub resources: u64,
    /// Matching records.
    pub events: u64,
}

/// `{"histogram": {"total", "buckets"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Histogram {
    pub total: u64,
    pub buckets: Vec<Bucket>,
}

impl Histogram {
    /// A histogram of these buckets; the total is their sum.
    pub fn from_buckets(buckets: Vec<Bucket>) -> Histogram {
        Histogram {
            total: buckets.iter().map(|b| b.count).sum(),
            buckets,
        }
    }
}

/// Records in `[time, time + interval)`; `time` in Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub time: i64,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_page_has_null_records() {
        assert_eq!(
            serde_json::to_string(&Page::empty()).unwrap(),
            r#"{"total":0,"records":null}"#
        );
    }
}
