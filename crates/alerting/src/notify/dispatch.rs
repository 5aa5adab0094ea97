//! The notification dispatcher, with Alertmanager's semantics: alerts merged
//! by fingerprint, routed through the tree (and to the webhook receivers
//! tenants registered for their namespaces), grouped; a group's first flush
//! after `group_wait`, then one every `group_interval`; inhibition; dedup
//! against the notification log (new firing alerts, all resolved, resolved
//! with `send_resolved`, or `repeat_interval` elapsed). Due notifications go
//! to the durable outbox. State survives restarts.

use super::matcher::Matcher;
use super::outbox::{unix_ms, Outbox, Pending};
use super::payload::{fingerprint, label_set_string, webhook_message, PipelineAlert};
use super::route::{Route, RouteFile};
use super::silence::Silences;
use crate::files::{read_json_or_default, write_atomically};
use crate::state::{Labels, Notification};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How often group timers are checked.
const TICK: Duration = Duration::from_millis(100);
/// How long a resolved alert no group holds is kept.
const RESOLVED_KEPT_MS: i64 = 15 * 60 * 1000;
const STATE_FILE: &str = "notification-state.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationFile {
    route: RouteFile,
    #[serde(default)]
    receivers: Vec<ReceiverFile>,
    #[serde(default)]
    inhibit_rules: Vec<InhibitFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverFile {
    name: String,
    #[serde(default)]
    webhook_configs: Vec<Webhook>,
}

/// A webhook receiver endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Most alerts per message; 0 = all.
    #[serde(default)]
    pub max_alerts: usize,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InhibitFile {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
}

struct Inhibit {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

/// The operator's routing tree, receivers and inhibition rules
/// (Alertmanager's configuration format, webhook receivers).
pub struct NotificationConfig {
    root: Route,
    receivers: BTreeMap<String, Vec<Webhook>>,
    inhibit: Vec<Inhibit>,
}

impl NotificationConfig {
    /// Parses and checks an Alertmanager-style configuration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: NotificationFile = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let root = Route::root(&file.route)?;
        let receivers: BTreeMap<String, Vec<Webhook>> = file
            .receivers
            .into_iter()
            .map(|r| (r.name, r.webhook_configs))
            .collect();
        for name in root.receivers() {
            if !receivers.contains_key(name) {
                return Err(format!("route: receiver {name:?} is not defined"));
            }
        }
        let matchers = |at: String, list: &[String]| {
            list.iter()
                .map(|m| Matcher::parse(m).map_err(|e| format!("{at}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        let inhibit = file
            .inhibit_rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(Inhibit {
                    source: matchers(
                        format!("inhibit_rules[{i}].source_matchers"),
                        &r.source_matchers,
                    )?,
                    target: matchers(
                        format!("inhibit_rules[{i}].target_matchers"),
                        &r.target_matchers,
                    )?,
                    equal: r.equal.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            root,
            receivers,
            inhibit,
        })
    }
}

/// A webhook a tenant registered for the alerts of its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantReceiver {
    pub namespace: String,
    pub name: String,
    pub webhook: Webhook,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    receiver: String,
    /// The tenant namespace of a tenant receiver's group.
    owner: Option<String>,
    group_key: String,
    group_labels: Labels,
    alerts: BTreeSet<String>,
    next_flush: i64,
    group_interval_ms: i64,
    repeat_interval_ms: i64,
}

/// The outcome of flushing a group, applied once its messages are stored.
struct Flushed {
    id: String,
    /// The new notification log entry, if it notified.
    logged: Option<LogEntry>,
    /// Resolved alerts that leave the group.
    resolved: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LogEntry {
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    alerts: BTreeMap<String, PipelineAlert>,
    groups: BTreeMap<String, Group>,
    log: BTreeMap<String, LogEntry>,
}

/// Where an alert goes: receiver, owning tenant namespace, group key, group
/// labels, and (group_wait, group_interval, repeat_interval).
type Target = (
    String,
    Option<String>,
    String,
    Labels,
    (Duration, Duration, Duration),
);

/// Default timings (Alertmanager's) for tenant receivers without a tree.
const DEFAULT_TIMINGS: (Duration, Duration, Duration) = (
    Duration::from_secs(30),
    Duration::from_secs(300),
    Duration::from_secs(4 * 3600),
);

/// Routes, groups and flushes alerts into the outbox.
pub struct Dispatcher {
    config: Option<NotificationConfig>,
    silences: Arc<Silences>,
    tenants: RwLock<Vec<TenantReceiver>>,
    state: Mutex<State>,
    outbox: Arc<Outbox>,
    external_url: String,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatcher")
    }
}

impl Dispatcher {
    /// A dispatcher with the operator's `config` (if any), its state
    /// restored from `data_dir`.
    pub fn new(
        config: Option<NotificationConfig>,
        silences: Arc<Silences>,
        outbox: Arc<Outbox>,
        external_url: String,
        data_dir: Option<PathBuf>,
    ) -> Result<Self, String> {
        let path = data_dir.map(|d| d.join(STATE_FILE));
        let state = match &path {
            Some(p) => read_json_or_default(p)?,
            None => State::default(),
        };
        Ok(Self {
            config,
            silences,
            tenants: RwLock::new(Vec::new()),
            state: Mutex::new(state),
            outbox,
            external_url,
            path,
        })
    }

    /// Replaces the tenants' receivers.
    pub fn set_tenant_receivers(&self, receivers: Vec<TenantReceiver>) {
        *self.tenants.write().unwrap_or_else(|e| e.into_inner()) = receivers;
    }

    fn timings(&self) -> (Duration, Duration, Duration) {
        self.config.as_ref().map_or(DEFAULT_TIMINGS, |c| {
            (
                c.root.group_wait,
                c.root.group_interval,
                c.root.repeat_interval,
            )
        })
    }

    /// Takes alerts from the rule engine at `now`.
    pub fn ingest(&self, alerts: &[Notification], now: i64) {
        let tenants = self
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for n in alerts {
            let fp = fingerprint(&n.labels);
            let incoming = PipelineAlert {
                labels: n.labels.clone(),
                annotations: n.annotations.clone(),
                starts_at: n.starts_at,
                ends_at: n.ends_at,
                generator_url: n.generator_url.clone(),
            };
            let merged = match state.alerts.get(&fp) {
                // A return after a resolution that ended before it is a new occurrence.
                Some(old) if !(old.resolved(now) && incoming.starts_at > old.ends_at) => {
                    PipelineAlert {
                        starts_at: old.starts_at.min(incoming.starts_at),
                        ..incoming
                    }
                }
                _ => incoming,
            };
            // Where it goes: the operator's tree, and the tenant's receivers.
            let mut targets: Vec<Target> = Vec::new();
            if let Some(config) = &self.config {
                for route in config.root.matching(&merged.labels) {
                    let labels = route.group_labels(&merged.labels);
                    let key = format!("{}:{}", route.key, label_set_string(&labels));
                    let timings = (
                        route.group_wait,
                        route.group_interval,
                        route.repeat_interval,
                    );
                    targets.push((route.receiver.clone(), None, key, labels, timings));
                }
            }
            if let Some(ns) = merged.labels.get("namespace") {
                for t in tenants.iter().filter(|t| &t.namespace == ns) {
                    let labels: Labels = merged
                        .labels
                        .get("alertname")
                        .map(|a| Labels::from([("alertname".to_string(), a.clone())]))
                        .unwrap_or_default();
                    let receiver = format!("{}/{}", t.namespace, t.name);
                    let key = format!("{{}}/{{namespace=\"{ns}\"}}:{}", label_set_string(&labels));
                    targets.push((receiver, Some(ns.clone()), key, labels, self.timings()));
                }
            }
            for (receiver, owner, group_key, group_labels, (wait, interval, repeat)) in targets {
                let id = format!("{receiver}\u{0}{group_key}");
                let group = state.groups.entry(id).or_insert_with(|| Group {
                    receiver,
                    owner,
                    group_key,
                    group_labels,
                    alerts: BTreeSet::new(),
                    next_flush: if merged.starts_at + (wait.as_millis() as i64) < now {
                        now
                    } else {
                        now + wait.as_millis() as i64
                    },
                    group_interval_ms: interval.as_millis() as i64,
                    repeat_interval_ms: repeat.as_millis() as i64,
                });
                group.alerts.insert(fp.clone());
            }
            state.alerts.insert(fp, merged);
        }
    }

    /// The webhooks of a receiver.
    fn webhooks(&self, receiver: &str, owner: Option<&str>) -> Vec<Webhook> {
        match owner {
            Some(ns) => self
                .tenants
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|t| t.namespace == ns && format!("{}/{}", t.namespace, t.name) == receiver)
                .map(|t| t.webhook.clone())
                .collect(),
            None => self
                .config
                .as_ref()
                .and_then(|c| c.receivers.get(receiver))
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// Whether `alert` is muted by an inhibition rule at `now`.
    fn inhibited(&self, state: &State, alert: &PipelineAlert, now: i64) -> bool {
        let Some(config) = &self.config else {
            return false;
        };
        config.inhibit.iter().any(|rule| {
            rule.target.iter().all(|m| m.matches(&alert.labels))
                && state.alerts.values().any(|source| {
                    !source.resolved(now)
                        && rule.source.iter().all(|m| m.matches(&source.labels))
                        // An alert matching both sides is not inhibited by
                        // another alert that also matches both sides.
                        && !(rule.target.iter().all(|m| m.matches(&source.labels))
                            && rule.source.iter().all(|m| m.matches(&alert.labels)))
                        && rule.equal.iter().all(|l| {
                            source.labels.get(l).map(String::as_str).unwrap_or("")
                                == alert.labels.get(l).map(String::as_str).unwrap_or("")
                        })
                })
        })
    }

    /// Flushes every group whose time has come; due notifications go to the outbox.
    pub fn tick(&self, now: i64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let due: Vec<String> = state
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush <= now)
            .map(|(id, _)| id.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        // Flushing only decides; all of a tick's messages are stored with one
        // sync, and only then do the groups and the log change. If storing
        // fails nothing changed, and the next tick tries again.
        let mut batch = Vec::new();
        let flushed: Vec<Flushed> = due
            .iter()
            .filter_map(|id| self.flush(&state, id, now, &mut batch))
            .collect();
        if let Err(e) = self.outbox.enqueue_all(batch) {
            tracing::error!(error = %e, "cannot store notifications; retrying at the next tick");
            return;
        }
        for f in flushed {
            if let Some(entry) = f.logged {
                state.log.insert(f.id.clone(), entry);
            }
            // Resolved alerts leave the group once flushed; an empty group goes.
            if let Some(g) = state.groups.get_mut(&f.id) {
                g.alerts.retain(|fp| !f.resolved.contains(fp));
                g.next_flush = now + g.group_interval_ms;
                if g.alerts.is_empty() {
                    state.groups.remove(&f.id);
                }
            }
        }
        // Forget resolved alerts no group holds any more.
        let held: BTreeSet<String> = state
            .groups
            .values()
            .flat_map(|g| g.alerts.clone())
            .collect();
        state.alerts.retain(|fp, a| {
            held.contains(fp) || !(a.resolved(now) && now - a.ends_at > RESOLVED_KEPT_MS)
        });
        if let Err(e) = self.persist(&state) {
            tracing::error!(error = %e, "persisting notification state failed");
        }
    }

    /// What flushing group `id` at `now` sends (pushed to `batch`) and how
    /// the group and the log are to change once that is stored.
    fn flush(
        &self,
        state: &State,
        id: &str,
        now: i64,
        batch: &mut Vec<Pending>,
    ) -> Option<Flushed> {
        let group = state.groups.get(id)?;
        let alerts: Vec<(String, PipelineAlert)> = group
            .alerts
            .iter()
            .filter_map(|fp| state.alerts.get(fp).map(|a| (fp.clone(), a.clone())))
            .filter(|(_, a)| !self.inhibited(state, a, now) && !self.silences.mutes(&a.labels, now))
            .collect();
        let firing: BTreeSet<String> = alerts
            .iter()
            .filter(|(_, a)| !a.resolved(now))
            .map(|(f, _)| f.clone())
            .collect();
        let resolved: BTreeSet<String> = alerts
            .iter()
            .filter(|(_, a)| a.resolved(now))
            .map(|(f, _)| f.clone())
            .collect();
        let webhooks = self.webhooks(&group.receiver, group.owner.as_deref());
        let send_resolved = webhooks.iter().any(|w| w.send_resolved);
        let entry = state.log.get(id);
        let notify = match entry {
            None => !firing.is_empty(),
            Some(e) if !firing.is_subset(&e.firing) => true,
            Some(e) if firing.is_empty() => !e.firing.is_empty(),
            Some(e) if send_resolved && !resolved.is_subset(&e.resolved) => true,
            Some(e) => e.at + group.repeat_interval_ms <= now,
        };
        if notify {
            for webhook in &webhooks {
                let sent: Vec<PipelineAlert> = alerts
                    .iter()
                    .filter(|(_, a)| webhook.send_resolved || !a.resolved(now))
                    .map(|(_, a)| a.clone())
                    .collect();
                if sent.is_empty() {
                    continue;
                }
                let namespaces: BTreeSet<String> = sent
                    .iter()
                    .filter_map(|a| a.labels.get("namespace").cloned())
                    .collect();
                let body = webhook_message(
                    &group.receiver,
                    &group.group_key,
                    &group.group_labels,
                    sent,
                    now,
                    &self.external_url,
                    webhook.max_alerts,
                );
                let pending = Pending {
                    id: 0,
                    receiver: group.receiver.clone(),
                    url: webhook.url.clone(),
                    group_key: group.group_key.clone(),
                    namespaces: namespaces.into_iter().collect(),
                    owner: group.owner.clone(),
                    body,
                    created: now,
                    attempts: 0,
                };
                batch.push(pending);
            }
        }
        Some(Flushed {
            id: id.to_string(),
            logged: notify.then(|| LogEntry {
                firing,
                resolved: resolved.clone(),
                at: now,
            }),
            resolved,
        })
    }

    fn persist(&self, state: &State) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(state).map_err(|e| e.to_string())?;
        write_atomically(path, &bytes)
    }

    /// Checks group timers forever.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.tick(unix_ms());
            tokio::time::sleep(TICK).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 20s
receivers:
  - name: ops
    webhook_configs:
      - url: http://ops.example/hook
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [instance]
"#;

    fn alert(name: &str, instance: &str, severity: &str, starts: i64, ends: i64) -> Notification {
        Notification {
            labels: Labels::from([
                ("alertname".to_string(), name.to_string()),
                ("instance".to_string(), instance.to_string()),
                ("severity".to_string(), severity.to_string()),
                ("namespace".to_string(), "team-a".to_string()),
            ]),
            annotations: BTreeMap::new(),
            starts_at: starts,
            ends_at: ends,
            generator_url: String::new(),
        }
    }

    fn dispatcher() -> (Dispatcher, Arc<Outbox>) {
        let outbox = Arc::new(Outbox::open(None).unwrap());
        let config = NotificationConfig::parse(CONFIG).unwrap();
        let d = Dispatcher::new(
            Some(config),
            Arc::new(Silences::open(None).unwrap()),
            Arc::clone(&outbox),
            "http://p".into(),
            None,
        )
        .unwrap();
        (d, outbox)
    }

    fn sent(outbox: &Outbox) -> Vec<(String, usize)> {
        outbox
            .pending()
            .iter()
            .map(|p| {
                (
                    p.body["status"].as_str().unwrap().to_string(),
                    p.body["alerts"].as_array().unwrap().len(),
                )
            })
            .collect()
    }

    const S: i64 = 1000;

    #[test]
    fn group_wait_interval_repeat_and_resolve_follow_alertmanager() {
        let (d, outbox) = dispatcher();
        let far = 1_000 * S;
        d.ingest(&[alert("A", "a", "warning", 0, far)], 0);
        d.tick(500);
        assert!(sent(&outbox).is_empty(), "group_wait not over");
        d.tick(S);
        assert_eq!(sent(&outbox), [("firing".to_string(), 1)]);
        // A second alert joins: sent at the next group_interval, together.
        d.ingest(&[alert("A", "b", "warning", 2 * S, far)], 2 * S);
        d.tick(3 * S);
        assert_eq!(sent(&outbox).len(), 1, "not before the group interval");
        d.tick(6 * S);
        assert_eq!(sent(&outbox).last().unwrap(), &("firing".to_string(), 2));
        // Nothing new: silent until the repeat interval has passed.
        d.tick(11 * S);
        d.tick(16 * S);
        assert_eq!(sent(&outbox).len(), 2);
        d.tick(26 * S);
        assert_eq!(sent(&outbox).len(), 3, "repeated after 20s");
        // Both resolve: one resolved notification, then the group is gone.
        d.ingest(
            &[
                alert("A", "a", "warning", 0, 27 * S),
                alert("A", "b", "warning", 2 * S, 27 * S),
            ],
            27 * S,
        );
        d.tick(31 * S);
        assert_eq!(sent(&outbox).last().unwrap(), &("resolved".to_string(), 2));
        d.tick(60 * S);
        assert_eq!(sent(&outbox).len(), 4);
        assert!(d.state.lock().unwrap().groups.is_empty());
    }

    #[test]
    fn inhibition_mutes_warnings_while_a_critical_fires_on_the_same_instance() {
        let (d, outbox) = dispatcher();
        let far = 1_000 * S;
        d.ingest(
            &[
                alert("Down", "a", "critical", 0, far),
                alert("Slow", "a", "warning", 0, far),
                alert("Slow", "b", "warning", 0, far),
            ],
            0,
        );
        d.tick(S);
        let bodies: Vec<serde_json::Value> = outbox.pending().into_iter().map(|p| p.body).collect();
        let slow = bodies
            .iter()
            .find(|b| b["groupLabels"]["alertname"] == "Slow")
            .unwrap();
        let instances: Vec<&str> = slow["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["labels"]["instance"].as_str().unwrap())
            .collect();
        assert_eq!(instances, ["b"], "Slow on a is inhibited by Down on a");
    }

    #[test]
    fn tenants_receive_their_namespaces_alerts_only() {
        let (d, outbox) = dispatcher();
        d.set_tenant_receivers(vec![TenantReceiver {
            namespace: "team-a".into(),
            name: "chat".into(),
            webhook: Webhook {
                url: "http://team-a.example/hook".into(),
                send_resolved: true,
                max_alerts: 0,
            },
        }]);
        let mut other = alert("X", "a", "warning", 0, 1_000 * S);
        other.labels.insert("namespace".into(), "team-b".into());
        d.ingest(&[alert("X", "a", "warning", 0, 1_000 * S), other], 0);
        d.tick(S);
        let to_team_a: Vec<Pending> = outbox
            .pending()
            .into_iter()
            .filter(|p| p.url == "http://team-a.example/hook")
            .collect();
        assert_eq!(to_team_a.len(), 1);
        assert_eq!(to_team_a[0].owner.as_deref(), Some("team-a"));
        let alerts = to_team_a[0].body["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["labels"]["namespace"], "team-a");
    }

    #[test]
    fn configurations_name_their_mistakes() {
        let e = NotificationConfig::parse("route: {receiver: nope}\nreceivers: []\n")
            .err()
            .unwrap();
        assert!(e.contains("\"nope\" is not defined"), "{e}");
        let e = NotificationConfig::parse(
            "route: {receiver: a, routes: [{matchers: ['x=~\"(\"']}]}\nreceivers: [{name: a}]\n",
        )
        .err()
        .unwrap();
        assert!(e.contains("route.routes[0].matchers"), "{e}");
    }
}
