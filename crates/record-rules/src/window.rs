//! Threshold state: per rule, per key (the alert's labels), the newest
//! matching records — at most the threshold's count of them — and when the
//! threshold was last met. Bounded (at most `max_keys` keys per rule, the
//! least recent dropped first) and serialisable, so a restart neither loses a
//! window nor fires again.

use crate::group::Threshold;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A label set.
pub type Labels = BTreeMap<String, String>;

/// One matching record, as a rule's state needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Which rule (its place in the [`crate::RuleSet`]).
    pub rule: usize,
    /// The alert's labels: the key records are counted under.
    pub labels: Labels,
    /// Unix ns.
    pub time_ns: i64,
    /// The record version's identity.
    pub identity: u64,
    /// The values of the rule's annotation `%field` references.
    pub fields: Vec<String>,
}

/// One key's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyWindow {
    pub labels: Labels,
    /// (time ns, identity), newest first; at most the threshold's count.
    recent: Vec<(i64, u64)>,
    /// Time of the newest record of the last window that met the threshold; 0: never.
    pub met_at: i64,
    /// Annotation field values of the newest matching record.
    pub fields: Vec<String>,
}

impl KeyWindow {
    fn newest(&self) -> i64 {
        self.recent.first().map_or(0, |r| r.0)
    }

    /// Matching records counted in the window (at most the threshold's count).
    pub fn counted(&self) -> usize {
        self.recent.len()
    }
}

/// One rule's windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleWindows {
    keys: HashMap<String, KeyWindow>,
}

fn key_of(labels: &Labels) -> String {
    let mut key = String::new();
    for (k, v) in labels {
        key.push_str(k);
        key.push('\u{1}');
        key.push_str(v);
        key.push('\u{2}');
    }
    key
}

impl RuleWindows {
    /// Counts a matching record. Returns true when it (re)meets the
    /// threshold; a record already counted (a re-delivery) changes nothing.
    pub fn observe(&mut self, m: Match, threshold: &Threshold, max_keys: usize) -> bool {
        let key = key_of(&m.labels);
        if !self.keys.contains_key(&key) && self.keys.len() >= max_keys.max(1) {
            self.evict(max_keys.max(1));
        }
        let w = self.keys.entry(key).or_insert_with(|| KeyWindow {
            labels: m.labels,
            recent: Vec::new(),
            met_at: 0,
            fields: Vec::new(),
        });
        if w.recent.iter().any(|r| r.1 == m.identity) {
            return false;
        }
        let count = threshold.count.max(1);
        let at = w.recent.partition_point(|r| r.0 > m.time_ns);
        if at >= count {
            // Older than every record kept: it cannot complete a window.
            return false;
        }
        if at == 0 {
            w.fields = m.fields;
        }
        w.recent.insert(at, (m.time_ns, m.identity));
        w.recent.truncate(count);
        let window = threshold.window.as_nanos() as i64;
        let met = w.recent.len() == count && w.recent[0].0 - w.recent[count - 1].0 <= window;
        if met && w.recent[0].0 > w.met_at {
            w.met_at = w.recent[0].0;
            return true;
        }
        false
    }

    /// Drops the least recently matched tenth of the keys to make room.
    fn evict(&mut self, max_keys: usize) {
        let mut newest: Vec<(i64, String)> = self
            .keys
            .iter()
            .map(|(k, w)| (w.newest(), k.clone()))
            .collect();
        newest.sort_unstable();
        let drop = (self.keys.len() + 1)
            .saturating_sub(max_keys)
            .max(max_keys / 10);
        for (_, k) in newest.into_iter().take(drop) {
            self.keys.remove(&k);
        }
    }

    /// The keys whose threshold was met less than `quiet_ns` before `now_ns`.
    pub fn active(&self, now_ns: i64, quiet_ns: i64) -> impl Iterator<Item = &KeyWindow> {
        self.keys
            .values()
            .filter(move |w| w.met_at > 0 && now_ns - w.met_at < quiet_ns)
    }

    /// Forgets keys with nothing left to count or report: inactive, and no
    /// record newer than `horizon_ns` before `now_ns`. Returns whether any went.
    pub fn prune(&mut self, now_ns: i64, quiet_ns: i64, horizon_ns: i64) -> bool {
        let before = self.keys.len();
        self.keys.retain(|_, w| {
            (w.met_at > 0 && now_ns - w.met_at < quiet_ns) || now_ns - w.newest() <= horizon_ns
        });
        self.keys.len() != before
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIN: i64 = 60_000_000_000;

    fn m(pod: &str, minute: i64, id: u64) -> Match {
        Match {
            rule: 0,
            labels: Labels::from([("pod".to_string(), pod.to_string())]),
            time_ns: minute * MIN,
            identity: id,
            fields: vec![format!("at {minute}")],
        }
    }

    fn five_in_ten() -> Threshold {
        Threshold {
            count: 5,
            window: Duration::from_secs(600),
            by: None,
        }
    }

    #[test]
    fn the_threshold_is_met_by_enough_distinct_records_within_the_window() {
        let t = five_in_ten();
        let mut w = RuleWindows::default();
        // Every 3 minutes: 5 records span 12 minutes, not enough.
        for (i, minute) in [0, 3, 6, 9, 12].into_iter().enumerate() {
            assert!(!w.observe(m("a", minute, i as u64), &t, 100));
        }
        // The newest five span 14 - 3 = 11 minutes; a re-delivery adds nothing.
        assert!(!w.observe(m("a", 14, 10), &t, 100));
        assert!(
            !w.observe(m("a", 14, 10), &t, 100),
            "a re-delivery counts once"
        );
        assert!(!w.observe(m("a", 14, 10), &t, 100));
        // 15, 14, 12, 9, 6: within 9 minutes.
        assert!(w.observe(m("a", 15, 12), &t, 100));
        assert_eq!(w.active(15 * MIN, 5 * MIN).count(), 1);
        assert_eq!(
            w.active(15 * MIN, 5 * MIN).next().unwrap().fields,
            ["at 15"]
        );
        // A late, older record neither refreshes the fields nor the alert.
        assert!(!w.observe(m("a", 1, 13), &t, 100));
        assert_eq!(
            w.active(20 * MIN, 5 * MIN).count(),
            0,
            "quiet for 5 minutes"
        );
        // Another key counts on its own.
        assert!(!w.observe(m("b", 15, 20), &t, 100));
        // The state survives a round trip through JSON.
        let saved = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<RuleWindows>(&saved).unwrap(), w);
    }

    #[test]
    fn keys_are_bounded_and_pruned() {
        let t = Threshold {
            count: 1,
            window: Duration::ZERO,
            by: None,
        };
        let mut w = RuleWindows::default();
        for i in 0..1000 {
            w.observe(m(&format!("p{i}"), i, i as u64), &t, 100);
        }
        assert!(w.len() <= 100, "{}", w.len());
        assert!(w.active(999 * MIN, MIN).any(|k| k.labels["pod"] == "p999"));
        assert!(w.prune(2000 * MIN, MIN, 10 * MIN));
        assert!(w.is_empty());
    }
}
