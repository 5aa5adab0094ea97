//! Tenants' rule groups (kept as the text they were written as) and webhook
//! receivers, in the data directory (one JSON file each, replaced
//! atomically), validated on write and held to the writer's limits.
//!
//! Counts are per owner: a namespace, a workspace or the cluster level holds
//! at most `max_rule_groups` groups, a namespace at most `max_receivers`
//! receivers. Stored objects that break limits set later are kept (and
//! evaluated) and reported by [`TenantRuleStore::limit_problems`] and
//! [`TenantReceiverStore::limit_problems`].

use crate::files::JsonStore;
use crate::notify::TenantReceiver;
use crate::records::RecordGroupSource;
use crate::{parse_rule_group, RuleGroup, TenantLevel};
use periscope_config::Limits;
use periscope_model::{Error, ErrorKind, Result};
use periscope_record_rules::{declared_kind, parse_group, RecordGroup};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const RULES_FILE: &str = "tenant-rules.json";
const RECEIVERS_FILE: &str = "tenant-receivers.json";

/// A stored group: its level, name, the text it was written as and who wrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    level: String,
    owner: String,
    name: String,
    text: String,
    /// The principal that wrote it (absent in groups stored before this was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    author: Option<String>,
}

impl Stored {
    fn level(&self) -> Option<TenantLevel> {
        level_of(&self.level, &self.owner)
    }
}

/// A tenant group as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantGroupInfo {
    pub level: String,
    pub owner: String,
    pub name: String,
    /// `metric`, `event` or `audit`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub rules: usize,
    pub text: String,
}

/// A tenant's group: Prometheus rules, or rules over event or audit records
/// (a text with `type: event` or `type: audit`).
#[derive(Debug, Clone)]
pub enum TenantGroup {
    Metric(RuleGroup),
    Records(RecordGroup),
}

impl TenantGroup {
    /// How many rules it has.
    pub fn rule_count(&self) -> usize {
        match self {
            TenantGroup::Metric(g) => g.rules.len(),
            TenantGroup::Records(g) => g.rules.len(),
        }
    }

    /// How often it is evaluated.
    pub fn interval(&self) -> std::time::Duration {
        match self {
            TenantGroup::Metric(g) => g.interval,
            TenantGroup::Records(g) => g.interval,
        }
    }

    /// `metric`, `event` or `audit`.
    pub fn kind(&self) -> &'static str {
        match self {
            TenantGroup::Metric(_) => "metric",
            TenantGroup::Records(g) => g.kind.as_str(),
        }
    }
}

/// `namespace`/`workspace`/`cluster` and the owner's name.
pub fn level_parts(level: &TenantLevel) -> (&'static str, String) {
    match level {
        TenantLevel::Namespace(ns) => ("namespace", ns.clone()),
        TenantLevel::Workspace(ws) => ("workspace", ws.clone()),
        TenantLevel::Cluster => ("cluster", String::new()),
    }
}

fn level_of(kind: &str, owner: &str) -> Option<TenantLevel> {
    match kind {
        "namespace" => Some(TenantLevel::Namespace(owner.to_string())),
        "workspace" => Some(TenantLevel::Workspace(owner.to_string())),
        "cluster" => Some(TenantLevel::Cluster),
        _ => None,
    }
}

fn owner_key(level: &TenantLevel) -> String {
    let (kind, owner) = level_parts(level);
    format!("{kind}/{owner}/")
}

fn key(level: &TenantLevel, name: &str) -> String {
    owner_key(level) + name
}

/// Parses one group's text (the body of a PUT) as a group of `level`, with
/// no limits applied (stored groups are read this way).
pub fn parse_tenant_group(level: &TenantLevel, name: &str, text: &str) -> Result<TenantGroup> {
    let valid_name = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(Error::bad_request(format!(
            "invalid group name {name:?}: 1 to 128 letters, digits, '-', '_' or '.'"
        )));
    }
    if declared_kind(text).is_some() {
        return parse_group(text, Some(name))
            .map(TenantGroup::Records)
            .map_err(|e| Error::bad_request(e.to_string()));
    }
    let mut group = parse_rule_group(&source_of(level), name, text)
        .map_err(|e| Error::bad_request(e.to_string()))?;
    group.tenant = Some(level.clone());
    Ok(TenantGroup::Metric(group))
}

/// The `source` of a level's groups (`tenant:namespace/team-a`).
fn source_of(level: &TenantLevel) -> String {
    let (kind, owner) = level_parts(level);
    format!("tenant:{kind}/{owner}")
}

/// Parses a group a tenant writes and holds it to the writer's `limits`:
/// its size (413, checked before parsing), interval and rule count (400).
pub fn validate_tenant_group(
    level: &TenantLevel,
    name: &str,
    text: &str,
    limits: &Limits,
) -> Result<TenantGroup> {
    if let Some(e) = size_problem(text, limits) {
        return Err(e);
    }
    let group = parse_tenant_group(level, name, text)?;
    match shape_problem(&group, limits) {
        Some(e) => Err(e),
        None => Ok(group),
    }
}

fn size_problem(text: &str, limits: &Limits) -> Option<Error> {
    (text.len() > limits.max_rule_group_bytes).then(|| {
        Error::too_large(format!(
            "the group is {} bytes, more than the {} allowed (limit max_rule_group_bytes)",
            text.len(),
            limits.max_rule_group_bytes
        ))
    })
}

fn shape_problem(group: &TenantGroup, limits: &Limits) -> Option<Error> {
    if group.interval() < limits.min_rule_interval {
        return Some(Error::bad_request(format!(
            "the group's interval {} is shorter than the {} allowed (limit min_rule_interval)",
            humantime::format_duration(group.interval()),
            humantime::format_duration(limits.min_rule_interval)
        )));
    }
    (group.rule_count() > limits.max_rules_per_group).then(|| {
        Error::bad_request(format!(
            "the group has {} rules, more than the {} allowed (limit max_rules_per_group)",
            group.rule_count(),
            limits.max_rules_per_group
        ))
    })
}

fn level_name(level: &TenantLevel) -> String {
    match level {
        TenantLevel::Namespace(ns) => format!("namespace {ns:?}"),
        TenantLevel::Workspace(ws) => format!("workspace {ws:?}"),
        TenantLevel::Cluster => "the cluster level".to_string(),
    }
}

/// The tenants' rule groups, by `kind/owner/name`.
pub struct TenantRuleStore(JsonStore<BTreeMap<String, Stored>>);

impl TenantRuleStore {
    /// Opens the store in `data_dir` (in memory only without one).
    pub fn open(data_dir: Option<&Path>) -> Result<Self> {
        JsonStore::open(data_dir.map(|d| d.join(RULES_FILE)))
            .map(Self)
            .map_err(Error::internal)
    }

    /// Every stored group, parsed, with its level (a group that no longer
    /// parses is skipped with an error in the log).
    fn parsed(&self) -> Vec<(TenantLevel, TenantGroup)> {
        self.0.read(|groups| {
            groups
                .values()
                .filter_map(|s| {
                    let level = s.level()?;
                    match parse_tenant_group(&level, &s.name, &s.text) {
                        Ok(g) => Some((level, g)),
                        Err(e) => {
                            tracing::error!(group = %s.name, error = %e, "stored tenant rule group is invalid; skipped");
                            None
                        }
                    }
                })
                .collect()
        })
    }

    /// Every stored group of Prometheus rules.
    pub fn groups(&self) -> Vec<RuleGroup> {
        self.parsed()
            .into_iter()
            .filter_map(|(_, g)| match g {
                TenantGroup::Metric(g) => Some(g),
                TenantGroup::Records(_) => None,
            })
            .collect()
    }

    /// Every stored group of event or audit rules, with its level.
    pub fn record_groups(&self) -> Vec<RecordGroupSource> {
        self.parsed()
            .into_iter()
            .filter_map(|(level, g)| match g {
                TenantGroup::Records(group) => Some(RecordGroupSource {
                    source: source_of(&level),
                    tenant: Some(level),
                    group,
                }),
                TenantGroup::Metric(_) => None,
            })
            .collect()
    }

    /// The stored groups, for listing.
    pub fn list(&self) -> Vec<(TenantLevel, TenantGroupInfo)> {
        self.0.read(|groups| {
            groups
                .values()
                .filter_map(|s| {
                    let level = s.level()?;
                    let parsed = parse_tenant_group(&level, &s.name, &s.text).ok();
                    let info = TenantGroupInfo {
                        level: s.level.clone(),
                        owner: s.owner.clone(),
                        name: s.name.clone(),
                        kind: parsed.as_ref().map_or("metric", TenantGroup::kind),
                        rules: parsed.as_ref().map_or(0, TenantGroup::rule_count),
                        text: s.text.clone(),
                    };
                    Some((level, info))
                })
                .collect()
        })
    }

    /// Stores (or replaces) a validated group written by `author`; a new
    /// group is refused (429) when its owner already holds
    /// `limits.max_rule_groups`. Returns whether it is new.
    pub fn put(
        &self,
        level: &TenantLevel,
        name: &str,
        text: &str,
        author: &str,
        limits: &Limits,
    ) -> Result<bool> {
        let (kind, owner) = level_parts(level);
        let stored = Stored {
            level: kind.to_string(),
            owner,
            name: name.to_string(),
            text: text.to_string(),
            author: Some(author.to_string()),
        };
        let prefix = owner_key(level);
        self.0
            .change(|groups| {
                let key = key(level, name);
                let created = !groups.contains_key(&key);
                let held = groups.keys().filter(|k| k.starts_with(&prefix)).count();
                if created && held >= limits.max_rule_groups {
                    return Err(Error::quota(format!(
                        "{} already has {held} rule groups, the most allowed (limit max_rule_groups)",
                        level_name(level)
                    )));
                }
                groups.insert(key, stored);
                Ok(created)
            })
            .map_err(Error::internal)?
    }

    /// Removes a group; 404 when there is none.
    pub fn delete(&self, level: &TenantLevel, name: &str) -> Result<()> {
        self.0
            .change(|groups| {
                groups.remove(&key(level, name)).map(|_| ()).ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, format!("no rule group {name:?} here"))
                })
            })
            .map_err(Error::internal)?
    }

    /// A stored group's text.
    pub fn get(&self, level: &TenantLevel, name: &str) -> Option<String> {
        self.0
            .read(|groups| groups.get(&key(level, name)).map(|s| s.text.clone()))
    }

    /// Every way the stored groups break the limits of their authors
    /// (`limits_of` gives a principal's limits, or the defaults for `None`
    /// or an unknown name): one sentence each, naming the group and the limit.
    pub fn limit_problems(&self, limits_of: impl Fn(Option<&str>) -> Limits) -> Vec<String> {
        self.0.read(|groups| {
            let mut problems = Vec::new();
            let mut held: BTreeMap<String, (TenantLevel, usize, Limits)> = BTreeMap::new();
            for s in groups.values() {
                let Some(level) = s.level() else { continue };
                let limits = limits_of(s.author.as_deref());
                let problem = size_problem(&s.text, &limits).or_else(|| {
                    parse_tenant_group(&level, &s.name, &s.text)
                        .ok()
                        .and_then(|g| shape_problem(&g, &limits))
                });
                if let Some(e) = problem {
                    problems.push(format!(
                        "rule group {:?} of {}: {}",
                        s.name,
                        level_name(&level),
                        e.message()
                    ));
                }
                let entry = held
                    .entry(owner_key(&level))
                    .or_insert_with(|| (level.clone(), 0, limits.clone()));
                entry.1 += 1;
                if limits.max_rule_groups < entry.2.max_rule_groups {
                    entry.2 = limits;
                }
            }
            for (level, count, limits) in held.into_values() {
                if count > limits.max_rule_groups {
                    problems.push(format!(
                        "{} has {count} rule groups, more than the {} allowed (limit max_rule_groups)",
                        level_name(&level),
                        limits.max_rule_groups
                    ));
                }
            }
            problems
        })
    }
}

/// Tenants' webhook receivers, by `namespace/name`.
pub struct TenantReceiverStore(JsonStore<BTreeMap<String, TenantReceiver>>);

/// Bytes a receiver counts for against `max_receiver_bytes`: its webhook as JSON.
fn receiver_bytes(receiver: &TenantReceiver) -> usize {
    serde_json::to_vec(&receiver.webhook).map_or(0, |b| b.len())
}

impl TenantReceiverStore {
    /// Opens the store in `data_dir` (in memory only without one).
    pub fn open(data_dir: Option<&Path>) -> Result<Self> {
        JsonStore::open(data_dir.map(|d| d.join(RECEIVERS_FILE)))
            .map(Self)
            .map_err(Error::internal)
    }

    /// Every receiver.
    pub fn list(&self) -> Vec<TenantReceiver> {
        self.0
            .read(|receivers| receivers.values().cloned().collect())
    }

    /// Adds or replaces a receiver; a new one is refused (429) when its
    /// namespace already has `limits.max_receivers`. Returns whether it is new.
    pub fn put(&self, receiver: TenantReceiver, limits: &Limits) -> Result<bool> {
        let prefix = format!("{}/", receiver.namespace);
        let key = format!("{prefix}{}", receiver.name);
        self.0
            .change(|receivers| {
                let created = !receivers.contains_key(&key);
                let held = receivers.keys().filter(|k| k.starts_with(&prefix)).count();
                if created && held >= limits.max_receivers {
                    return Err(Error::quota(format!(
                        "namespace {:?} already has {held} receivers, the most allowed (limit max_receivers)",
                        receiver.namespace
                    )));
                }
                receivers.insert(key, receiver);
                Ok(created)
            })
            .map_err(Error::internal)?
    }

    /// Removes a receiver; 404 when there is none.
    pub fn delete(&self, namespace: &str, name: &str) -> Result<()> {
        self.0
            .change(|receivers| {
                receivers
                    .remove(&format!("{namespace}/{name}"))
                    .map(|_| ())
                    .ok_or_else(|| {
                        Error::new(ErrorKind::NotFound, format!("no receiver {name:?} here"))
                    })
            })
            .map_err(Error::internal)?
    }

    /// Every way the stored receivers break `limits` (receivers record no
    /// author, so the defaults apply): one sentence each.
    pub fn limit_problems(&self, limits: &Limits) -> Vec<String> {
        self.0.read(|receivers| {
            let mut problems = Vec::new();
            let mut per_namespace: BTreeMap<&str, usize> = BTreeMap::new();
            for r in receivers.values() {
                *per_namespace.entry(&r.namespace).or_default() += 1;
                let bytes = receiver_bytes(r);
                if bytes > limits.max_receiver_bytes {
                    problems.push(format!(
                        "receiver {:?} of namespace {:?} is {bytes} bytes, more than the {} allowed (limit max_receiver_bytes)",
                        r.name, r.namespace, limits.max_receiver_bytes
                    ));
                }
            }
            for (namespace, count) in per_namespace {
                if count > limits.max_receivers {
                    problems.push(format!(
                        "namespace {namespace:?} has {count} receivers, more than the {} allowed (limit max_receivers)",
                        limits.max_receivers
                    ));
                }
            }
            problems
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Webhook;

    fn ns(name: &str) -> TenantLevel {
        TenantLevel::Namespace(name.to_string())
    }

    const GROUP: &str = "interval: 1m\nrules:\n- alert: A\n  expr: up == 0\n";

    #[test]
    fn a_group_that_parses_but_repeats_anchors_is_a_bad_request() {
        // An anchor reused three times and an empty label key: it parses as
        // YAML, so the problem must be reported as a bad group, not a 500.
        let text = "interval: 1m\nname: g\nrules:\n- &id001\n  alert: ''\n  expr: time() bool time()\n  labels:\n    '': x\n- *id001\n";
        let e = parse_tenant_group(&ns("team-a"), "g", text).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequest);
        assert!(
            e.message()
                .contains("rules[0].labels: \"\" is not a valid label name"),
            "{e}"
        );
        assert!(
            e.message().contains("rules[1].alert: must not be empty"),
            "{e}"
        );
    }

    #[test]
    fn the_name_in_the_text_must_match_the_path() {
        let e =
            parse_tenant_group(&ns("team-a"), "g", &format!("name: other\n{GROUP}")).unwrap_err();
        assert!(
            e.message().contains("differs from the one in the path"),
            "{e}"
        );
        let TenantGroup::Metric(g) = parse_tenant_group(&ns("team-a"), "g", GROUP).unwrap() else {
            panic!("a Prometheus group")
        };
        assert_eq!((g.name.as_str(), g.tenant), ("g", Some(ns("team-a"))));
    }

    #[test]
    fn writes_are_held_to_each_limit_with_its_status_and_name() {
        let limits = Limits {
            max_rule_group_bytes: 200,
            max_rules_per_group: 2,
            ..Limits::default()
        };
        let check = |text: &str| validate_tenant_group(&ns("a"), "g", text, &limits);
        assert!(check(GROUP).is_ok());
        let fast = check("interval: 1ms\nrules: []\n").unwrap_err();
        assert_eq!(fast.kind(), ErrorKind::BadRequest);
        assert!(fast.message().contains("min_rule_interval"), "{fast}");
        let many = format!("rules:\n{}", "- record: r\n  expr: up\n".repeat(3));
        let many = check(&many).unwrap_err();
        assert_eq!(many.kind(), ErrorKind::BadRequest);
        assert!(
            many.message().contains("has 3 rules")
                && many.message().contains("max_rules_per_group")
        );
        let big = check(&format!("{GROUP}# {}\n", "x".repeat(200))).unwrap_err();
        assert_eq!(big.kind(), ErrorKind::PayloadTooLarge);
        assert!(big.message().contains("max_rule_group_bytes"), "{big}");
    }

    #[test]
    fn owners_hold_at_most_their_quota_of_groups_and_replacing_is_free() {
        let store = TenantRuleStore::open(None).unwrap();
        let limits = Limits {
            max_rule_groups: 2,
            ..Limits::default()
        };
        assert!(store.put(&ns("a"), "g1", GROUP, "alice", &limits).unwrap());
        assert!(store.put(&ns("a"), "g2", GROUP, "alice", &limits).unwrap());
        let e = store
            .put(&ns("a"), "g3", GROUP, "alice", &limits)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        assert!(
            e.message().contains("namespace \"a\" already has 2")
                && e.message().contains("max_rule_groups")
        );
        assert!(!store.put(&ns("a"), "g2", GROUP, "alice", &limits).unwrap());
        assert!(
            store.put(&ns("ab"), "g1", GROUP, "alice", &limits).unwrap(),
            "another owner"
        );
        assert!(store.limit_problems(|_| limits.clone()).is_empty());
    }

    #[test]
    fn stored_groups_that_break_later_limits_are_reported_not_dropped() {
        let store = TenantRuleStore::open(None).unwrap();
        let generous = Limits::default();
        store
            .put(&ns("a"), "g1", GROUP, "alice", &generous)
            .unwrap();
        store
            .put(
                &ns("a"),
                "fast",
                "interval: 1m\nrules: []\n",
                "bob",
                &generous,
            )
            .unwrap();
        let strict = Limits {
            max_rule_groups: 1,
            min_rule_interval: std::time::Duration::from_secs(120),
            ..Limits::default()
        };
        let problems = store.limit_problems(|author| match author {
            Some("bob") => strict.clone(),
            _ => generous.clone(),
        });
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("rule group \"fast\" of namespace \"a\"")
                && problems[0].contains("min_rule_interval")
        );
        assert!(
            problems[1].contains("namespace \"a\" has 2 rule groups")
                && problems[1].contains("max_rule_groups")
        );
        assert_eq!(store.groups().len(), 2, "both are still evaluated");
    }

    #[test]
    fn receivers_per_namespace_are_bounded() {
        let store = TenantReceiverStore::open(None).unwrap();
        let limits = Limits {
            max_receivers: 1,
            max_receiver_bytes: 40,
            ..Limits::default()
        };
        let receiver = |name: &str, url: &str| TenantReceiver {
            namespace: "a".into(),
            name: name.into(),
            webhook: Webhook {
                url: url.into(),
                send_resolved: true,
                max_alerts: 0,
            },
        };
        assert!(store.put(receiver("r1", "http://h/"), &limits).unwrap());
        let e = store.put(receiver("r2", "http://h/"), &limits).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        assert!(e.message().contains("max_receivers"));
        assert!(!store
            .put(
                receiver("r1", &format!("http://{}/", "h".repeat(40))),
                &limits
            )
            .unwrap());
        let problems = store.limit_problems(&limits);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("max_receiver_bytes"));
    }
}
