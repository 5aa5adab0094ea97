//! Silences (Alertmanager's model): matchers and a time window; an alert
//! matching every matcher of an active silence is not notified. Stored in
//! the data directory.

use crate::files::JsonStore;
use crate::state::Labels;
use periscope_model::Error;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One matcher of a silence (`isEqual` false negates it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        let hit = if self.is_regex {
            Regex::new(&format!("^(?:{})$", self.value)).is_ok_and(|r| r.is_match(v))
        } else {
            v == self.value
        };
        hit == self.is_equal
    }
}

/// A silence. Times are Unix ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
    pub updated_at: i64,
}

impl Silence {
    /// `pending`, `active` or `expired` at `now`.
    pub fn state(&self, now: i64) -> &'static str {
        if self.ends_at <= now {
            "expired"
        } else if self.starts_at > now {
            "pending"
        } else {
            "active"
        }
    }

    /// The namespace it is confined to: its `namespace="..."` matcher.
    pub fn namespace(&self) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.name == "namespace" && m.is_equal && !m.is_regex)
            .map(|m| m.value.as_str())
    }

    /// Whether it mutes `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: i64) -> bool {
        self.state(now) == "active" && self.matchers.iter().all(|m| m.matches(labels))
    }

    /// The problems that make it invalid.
    pub fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        for m in &self.matchers {
            if m.name.is_empty() {
                return Err("a matcher needs a label name".into());
            }
            if m.is_regex {
                Regex::new(&m.value).map_err(|e| format!("matcher {}: {e}", m.name))?;
            }
        }
        if self.ends_at <= self.starts_at {
            return Err("endsAt must be after startsAt".into());
        }
        Ok(())
    }
}

/// Every silence, by id.
pub struct Silences {
    store: JsonStore<BTreeMap<String, Silence>>,
    counter: AtomicU64,
}

impl Silences {
    /// Opens the silences kept in `data_dir` (in memory only without one).
    pub fn open(data_dir: Option<&std::path::Path>) -> Result<Self, String> {
        Ok(Self {
            store: JsonStore::open(data_dir.map(|d| d.join("silences.json")))?,
            counter: AtomicU64::new(0),
        })
    }

    /// Every silence.
    pub fn list(&self) -> Vec<Silence> {
        self.store.read(|all| all.values().cloned().collect())
    }

    /// One silence.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.store.read(|all| all.get(id).cloned())
    }

    /// Whether an active silence mutes `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: i64) -> bool {
        self.store
            .read(|all| all.values().any(|s| s.mutes(labels, now)))
    }

    /// Creates a silence (empty id) or replaces one; returns its id. A new
    /// silence is refused (429) when `max_unexpired` silences not yet expired
    /// already match its namespace (or, for one without, match none).
    pub fn put(
        &self,
        mut silence: Silence,
        now: i64,
        max_unexpired: usize,
    ) -> Result<String, Error> {
        silence.validate().map_err(Error::bad_request)?;
        if silence.id.is_empty() {
            let n = self.counter.fetch_add(1, Ordering::SeqCst);
            silence.id = format!("{:016x}-{n:04x}", now as u64 ^ 0x9e37_79b9_7f4a_7c15);
        }
        silence.updated_at = now;
        let id = silence.id.clone();
        self.store
            .change(|all| {
                let held = all
                    .values()
                    .filter(|s| s.id != id && s.ends_at > now && s.namespace() == silence.namespace())
                    .count();
                if !all.contains_key(&id) && held >= max_unexpired {
                    let whose = silence
                        .namespace()
                        .map_or("without a namespace".to_string(), |ns| format!("for namespace {ns:?}"));
                    return Err(Error::quota(format!(
                        "there are already {held} silences {whose}, the most allowed (limit max_silences)"
                    )));
                }
                all.insert(id.clone(), silence);
                Ok(())
            })
            .map_err(Error::internal)??;
        Ok(id)
    }

    /// Namespaces with more silences not yet expired at `now` than `max`: one
    /// sentence each.
    pub fn limit_problems(&self, now: i64, max: usize) -> Vec<String> {
        self.store.read(|all| {
            let mut per_namespace: BTreeMap<Option<&str>, usize> = BTreeMap::new();
            for s in all.values().filter(|s| s.ends_at > now) {
                *per_namespace.entry(s.namespace()).or_default() += 1;
            }
            per_namespace
                .into_iter()
                .filter(|(_, count)| *count > max)
                .map(|(ns, count)| {
                    format!(
                        "{} {count} silences not yet expired, more than the {max} allowed (limit max_silences)",
                        ns.map_or("there are".to_string(), |ns| format!("namespace {ns:?} has"))
                    )
                })
                .collect()
        })
    }

    /// Expires a silence now; false when there is none.
    pub fn expire(&self, id: &str, now: i64) -> Result<bool, String> {
        self.store.change(|all| {
            let Some(s) = all.get_mut(id) else {
                return Ok(false);
            };
            if s.ends_at > now {
                s.ends_at = now;
                s.starts_at = s.starts_at.min(now);
                s.updated_at = now;
            }
            Ok::<_, String>(true)
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silences_mute_matching_alerts_while_active() {
        let s = Silences::open(None).unwrap();
        let silence = Silence {
            id: String::new(),
            matchers: vec![
                SilenceMatcher {
                    name: "namespace".into(),
                    value: "team-a".into(),
                    is_regex: false,
                    is_equal: true,
                },
                SilenceMatcher {
                    name: "alertname".into(),
                    value: "Slow.*".into(),
                    is_regex: true,
                    is_equal: true,
                },
            ],
            starts_at: 100,
            ends_at: 200,
            created_by: "alice".into(),
            comment: "maintenance".into(),
            updated_at: 0,
        };
        let id = s.put(silence.clone(), 50, 2).unwrap();
        let labels = |ns: &str, name: &str| {
            Labels::from([
                ("namespace".to_string(), ns.to_string()),
                ("alertname".to_string(), name.to_string()),
            ])
        };
        assert!(!s.mutes(&labels("team-a", "SlowX"), 99), "pending");
        assert!(s.mutes(&labels("team-a", "SlowX"), 150));
        assert!(!s.mutes(&labels("team-b", "SlowX"), 150));
        assert!(!s.mutes(&labels("team-a", "Down"), 150));
        assert!(s.expire(&id, 160).unwrap());
        assert!(!s.mutes(&labels("team-a", "SlowX"), 161));
        assert_eq!(s.get(&id).unwrap().state(161), "expired");
        let mut bad = s.get(&id).unwrap();
        bad.matchers.clear();
        assert_eq!(
            s.put(bad, 170, 2).unwrap_err().kind(),
            periscope_model::ErrorKind::BadRequest
        );
    }

    #[test]
    fn unexpired_silences_per_namespace_are_bounded() {
        let s = Silences::open(None).unwrap();
        let silence = |ns: &str| Silence {
            id: String::new(),
            matchers: vec![SilenceMatcher {
                name: "namespace".into(),
                value: ns.into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: 0,
            ends_at: 1_000,
            created_by: String::new(),
            comment: String::new(),
            updated_at: 0,
        };
        let first = s.put(silence("a"), 10, 1).unwrap();
        let e = s.put(silence("a"), 10, 1).unwrap_err();
        assert_eq!(e.kind(), periscope_model::ErrorKind::QuotaExceeded);
        assert!(e.message().contains("namespace \"a\"") && e.message().contains("max_silences"));
        s.put(silence("b"), 10, 1).unwrap();
        let mut again = s.get(&first).unwrap();
        again.comment = "changed".into();
        s.put(again, 20, 1).unwrap();
        assert_eq!(s.limit_problems(20, 0).len(), 2);
        s.expire(&first, 30).unwrap();
        s.put(silence("a"), 40, 1).unwrap();
        assert!(s.limit_problems(40, 1).is_empty());
    }
}
