//! Tenants' rule groups (stored as their Prometheus-format text) and webhook
//! receivers, in the data directory (one JSON file each, replaced
//! atomically), validated on write.

use periscope_alerting::notify::TenantReceiver;
use periscope_alerting::{parse_rule_file, RuleGroup, TenantLevel};
use periscope_model::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

/// The tenants' rule groups.
pub(crate) struct TenantRuleStore {
    path: Option<PathBuf>,
    groups: Mutex<BTreeMap<String, Stored>>,
}

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
        let path = data_dir.map(|d| d.join(FILE));
        let groups = match &path {
            Some(p) => match std::fs::read(p) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| Error::internal(format!("{}: {e}", p.display())))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(Error::internal(format!("{}: {e}", p.display()))),
            },
            None => BTreeMap::new(),
        };
        Ok(Self {
            path,
            groups: Mutex::new(groups),
        })
    }

    /// Every stored group, parsed (a group that no longer parses is skipped
    /// with an error in the log).
    pub(crate) fn groups(&self) -> Vec<RuleGroup> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
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
    }

    /// The stored groups, for listing.
    pub(crate) fn list(&self) -> Vec<(TenantLevel, TenantGroupInfo)> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups
            .values()
            .filter_map(|s| {
                let level = level_of(&s.level, &s.owner)?;
                let rules = parse_group(&level, &s.name, &s.text)
                    .map(|g| g.rules.len())
                    .unwrap_or_default();
                Some((
                    level,
                    TenantGroupInfo {
                        level: s.level.clone(),
                        owner: s.owner.clone(),
                        name: s.name.clone(),
                        rules,
                        text: s.text.clone(),
                    },
                ))
            })
            .collect()
    }

    /// Stores (or replaces) a validated group.
    pub(crate) fn put(&self, level: &TenantLevel, name: &str, text: &str) -> Result<()> {
        let (kind, owner) = level_parts(level);
        self.change(|groups| {
            groups.insert(
                key(level, name),
                Stored {
                    level: kind.to_string(),
                    owner,
                    name: name.to_string(),
                    text: text.to_string(),
                },
            );
            Ok(())
        })
    }

    /// Removes a group; 404 when there is none.
    pub(crate) fn delete(&self, level: &TenantLevel, name: &str) -> Result<()> {
        self.change(|groups| {
            groups.remove(&key(level, name)).map(|_| ()).ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("no rule group {name:?} here"))
            })
        })
    }

    /// A stored group's text.
    pub(crate) fn get(&self, level: &TenantLevel, name: &str) -> Option<String> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.get(&key(level, name)).map(|s| s.text.clone())
    }

    fn change(&self, f: impl FnOnce(&mut BTreeMap<String, Stored>) -> Result<()>) -> Result<()> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = groups.clone();
        f(&mut next)?;
        if let Some(path) = &self.path {
            write_atomically(
                path,
                &serde_json::to_vec_pretty(&next).map_err(|e| Error::internal(e.to_string()))?,
            )?;
        }
        *groups = next;
        Ok(())
    }
}

/// Tenants' webhook receivers, by `namespace/name`.
pub(crate) struct TenantReceiverStore {
    path: Option<PathBuf>,
    receivers: Mutex<BTreeMap<String, TenantReceiver>>,
}

impl TenantReceiverStore {
    /// Opens the store in `data_dir` (in memory only without one).
    pub(crate) fn open(data_dir: Option<&Path>) -> Result<Self> {
        let path = data_dir.map(|d| d.join("tenant-receivers.json"));
        let receivers = match &path {
            Some(p) => match std::fs::read(p) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| Error::internal(format!("{}: {e}", p.display())))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(Error::internal(format!("{}: {e}", p.display()))),
            },
            None => BTreeMap::new(),
        };
        Ok(Self {
            path,
            receivers: Mutex::new(receivers),
        })
    }

    /// Every receiver.
    pub(crate) fn list(&self) -> Vec<TenantReceiver> {
        let receivers = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
        receivers.values().cloned().collect()
    }

    /// Adds or replaces a receiver; returns whether it is new.
    pub(crate) fn put(&self, receiver: TenantReceiver) -> Result<bool> {
        let key = format!("{}/{}", receiver.namespace, receiver.name);
        let mut receivers = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = receivers.clone();
        let created = next.insert(key, receiver).is_none();
        self.save(&next)?;
        *receivers = next;
        Ok(created)
    }

    /// Removes a receiver; 404 when there is none.
    pub(crate) fn delete(&self, namespace: &str, name: &str) -> Result<()> {
        let mut receivers = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = receivers.clone();
        next.remove(&format!("{namespace}/{name}"))
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no receiver {name:?} here")))?;
        self.save(&next)?;
        *receivers = next;
        Ok(())
    }

    fn save(&self, receivers: &BTreeMap<String, TenantReceiver>) -> Result<()> {
        match &self.path {
            Some(path) => write_atomically(
                path,
                &serde_json::to_vec_pretty(receivers)
                    .map_err(|e| Error::internal(e.to_string()))?,
            ),
            None => Ok(()),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::internal(format!("{}: {e}", path.display())))
}
