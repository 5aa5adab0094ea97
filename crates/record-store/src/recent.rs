//! Keys stored lately and how far their record had got, so a report that
//! adds nothing (a retried batch, an exporter's resend) is not written again.
//! Bounded: the oldest half is forgotten when full. A forgotten key costs
//! only an extra row; answers count each key once regardless.

use std::collections::HashMap;
use std::sync::Mutex;

/// Recently stored keys with their (time, rank).
pub struct Recent {
    capacity: usize,
    seen: Mutex<HashMap<String, (i64, u64)>>,
}

impl Recent {
    /// Remembers at most `capacity` keys.
    pub fn new(capacity: usize) -> Recent {
        Recent {
            capacity: capacity.max(2),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a report of `key` at `time` with `rank` (an occurrence count;
    /// 0 when reports do not grow) adds to what is stored: true when the key
    /// is new or the report is later or higher. Admitted reports are
    /// remembered; call [`Recent::forget`] if their write then fails.
    pub fn admit(&self, key: &str, time: i64, rank: u64) -> bool {
        let mut seen = self.seen.lock().expect("recent keys lock");
        if let Some(&(t, r)) = seen.get(key) {
            if time <= t && rank <= r {
                return false;
            }
        }
        if seen.len() >= self.capacity {
            let mut times: Vec<i64> = seen.values().map(|v| v.0).collect();
            let middle = times.len() / 2;
            let (_, &mut cut, _) = times.select_nth_unstable(middle);
            seen.retain(|_, v| v.0 > cut);
        }
        let entry = seen.entry(key.to_string()).or_insert((time, rank));
        *entry = (entry.0.max(time), entry.1.max(rank));
        true
    }

    /// Forgets keys whose write failed, so their retry is admitted.
    pub fn forget<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut seen = self.seen.lock().expect("recent keys lock");
        for k in keys {
            seen.remove(k);
        }
    }
}
