//! Tenants' rule groups (stored as their Prometheus-format text) and webhook
//! receivers, in the data directory (one JSON file each, replaced
//! atomically), validated on write.

use periscope_alerting::files::JsonStore;
use periscope_alerting::notify::TenantReceiver;
use periscope_alerting::{parse_rule_file, RuleGroup, TenantLevel};
use periscope_model::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const FILE: &str = "tenant-rules.json";

/// A stored group: its level, name and the text it was written as.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    level: String,
    owner: String,
    name: String,
    text: String,
}

/// A tenant group as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TenantGroupInfo {
    pub level: String,
    pub owner: String,
    pub name: String,
    pub rules: usize,
    pub text: String,
}

/// The tenants' rule groups, by `kind/owner/name`.
pub(crate) struct TenantRuleStore(JsonStore<BTreeMap<String, Stored>>);

/// `namespace`/`workspace`/`cluster` and the owner's name.
pub(crate) fn level_parts(level: &TenantLevel) -> (&'static str, String) {
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

fn key(level: &TenantLevel, name: &str) -> String {
    let (kind, owner) = level_parts(level);
    format!("{kind}/{owner}/{name}")
}

/// Parses one group's text (the body of a PUT) as a group of `level`.
pub(crate) fn parse_group(level: &TenantLevel, name: &str, text: &str) -> Result<RuleGroup> {
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
    let mut body: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| Error::bad_request(format!("the group is not valid YAML or JSON: {e}")))?;
    let Some(map) = body.as_mapping_mut() else {
        return Err(Error::bad_request(
            "the group must be an object with `rules` (and optionally `interval`, `limit`, `labels`)",
        ));
    };
    match map.get("name").and_then(|n| n.as_str()) {
        Some(given) if given != name => {
            return Err(Error::bad_request(format!(
                "the group's name {given:?} differs from the one in the path {name:?}"
            )))
        }
        _ => {}
    }
    map.insert("name".into(), name.into());
    let wrapped = serde_yaml_ng::to_string(&serde_yaml_ng::Mapping::from_iter([(
        "groups".into(),
        serde_yaml_ng::Value::Sequence(vec![body]),
    )]))
    .map_err(|e| Error::internal(e.to_string()))?;
    let (kind, owner) = level_parts(level);
    let source = format!("tenant:{kind}/{owner}");
    let mut groups =
        parse_rule_file(&source, &wrapped).map_err(|e| Error::bad_request(e.to_string()))?;
    let mut group = groups.pop().ok_or_else(|| Error::bad_request("no group"))?;
    group.tenant = Some(level.clone());
    Ok(group)
}

impl TenantRuleStore {
    /// Opens the store in `data_dir` (in memory only without one).
    pub(crate) fn open(data_dir: Option<&Path>) -> Result<Self> {
        JsonStore::open(data_dir.map(|d| d.join(FILE)))
            .map(Self)
            .map_err(Error::internal)
    }

    /// Every stored group, parsed (a group that no longer parses is skipped
    /// with an error in the log).
    pub(crate) fn groups(&self) -> Vec<RuleGroup> {
        self.0.read(|groups| {
            groups
                .values()
                .filter_map(|s| {
                    let level = level_of(&s.level, &s.owner)?;
                    match parse_group(&level, &s.name, &s.text) {
                        Ok(g) => Some(g),
                        Err(e) => {
                            tracing::error!(group = %s.name, error = %e, "stored tenant rule group is invalid; skipped");
                            None
                        }
                    }
                })
                .collect()
        })
    }

    /// The stored groups, for listing.
    pub(crate) fn list(&self) -> Vec<(TenantLevel, TenantGroupInfo)> {
        self.0.read(|groups| {
            groups
                .values()
                .filter_map(|s| {
                    let level = level_of(&s.level, &s.owner)?;
                    let rules = parse_group(&level, &s.name, &s.text)
                        .map(|g| g.rules.len())
                        .unwrap_or_default();
                    let info = TenantGroupInfo {
                        level: s.level.clone(),
                        owner: s.owner.clone(),
                        name: s.name.clone(),
                        rules,
                        text: s.text.clone(),
                    };
                    Some((level, info))
                })
                .collect()
        })
    }

    /// Stores (or replaces) a validated group.
    pub(crate) fn put(&self, level: &TenantLevel, name: &str, text: &str) -> Result<()> {
        let (kind, owner) = level_parts(level);
        let stored = Stored {
            level: kind.to_string(),
            owner,
            name: name.to_string(),
            text: text.to_string(),
        };
        self.0
            .change(|groups| {
                groups.insert(key(level, name), stored);
                Ok(())
            })
            .map_err(Error::internal)?
    }

    /// Removes a group; 404 when there is none.
    pub(crate) fn delete(&self, level: &TenantLevel, name: &str) -> Result<()> {
        self.0
            .change(|groups| {
                groups.remove(&key(level, name)).map(|_| ()).ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, format!("no rule group {name:?} here"))
                })
            })
            .map_err(Error::internal)?
    }

    /// A stored group's text.
    pub(crate) fn get(&self, level: &TenantLevel, name: &str) -> Option<String> {
        self.0
            .read(|groups| groups.get(&key(level, name)).map(|s| s.text.clone()))
    }
}

/// Tenants' webhook receivers, by `namespace/name`.
pub(crate) struct TenantReceiverStore(JsonStore<BTreeMap<String, TenantReceiver>>);

impl TenantReceiverStore {
    /// Opens the store in `data_dir` (in memory only without one).
    pub(crate) fn open(data_dir: Option<&Path>) -> Result<Self> {
        JsonStore::open(data_dir.map(|d| d.join("tenant-receivers.json")))
            .map(Self)
            .map_err(Error::internal)
    }

    /// Every receiver.
    pub(crate) fn list(&self) -> Vec<TenantReceiver> {
        self.0
            .read(|receivers| receivers.values().cloned().collect())
    }

    /// Adds or replaces a receiver; returns whether it is new.
    pub(crate) fn put(&self, receiver: TenantReceiver) -> Result<bool> {
        let key = format!("{}/{}", receiver.namespace, receiver.name);
        self.0
            .change(|receivers| Ok(receivers.insert(key, receiver).is_none()))
            .map_err(Error::internal)?
    }

    /// Removes a receiver; 404 when there is none.
    pub(crate) fn delete(&self, namespace: &str, name: &str) -> Result<()> {
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
}
