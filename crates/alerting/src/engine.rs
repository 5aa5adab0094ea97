//! The rule evaluation engine: each group on its own ticker with a stable
//! phase, its rules in order at one timestamp, alert state kept across
//! restarts in the data directory, due alerts sent to Alertmanager.

use crate::files::write_atomically;
use crate::format::rfc3339_ms;
use crate::rules::{AlertingRule, Rule, RuleGroup, TenantLevel};
use crate::state::{Candidate, Labels, Notification, RuleState};
use crate::template::{query_escape, TemplateData};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Evaluates a PromQL query at a time (Unix ms), confined to a tenant's
/// namespaces for a tenant's group: the result's samples.
pub type QueryFn =
    Arc<dyn Fn(String, i64, Option<TenantLevel>) -> BoxFuture<'static, QueryResult> + Send + Sync>;

/// A rule query's samples, or why it failed.
pub type QueryResult = Result<Vec<(Labels, f64)>, String>;

/// How long a send to Alertmanager may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Name of the state file in the data directory.
/// Directory of the per-group state files in the data directory.
const STATE_DIR: &str = "alert-state";

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `--rules.alert.resend-delay`.
    pub resend_delay: Duration,
    /// Base of `generatorURL` and `$externalURL`.
    pub external_url: String,
    /// Added to every alert where it has no such label.
    pub external_labels: Labels,
    /// Alertmanagers to send to (`POST <url>/api/v2/alerts`).
    pub alertmanagers: Vec<String>,
    /// Where alert state survives restarts; none keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// Periscope's own notification pipeline, if configured.
    pub dispatcher: Option<Arc<crate::notify::Dispatcher>>,
    /// Where recording rule results are written, if anywhere.
    pub remote_write: Option<Arc<crate::RemoteWriter>>,
}

/// A rule's health, as the rules API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

/// A rule and what its last evaluation gave.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    pub rule: Rule,
    pub state: RuleState,
    pub health: Health,
    pub last_error: String,
    /// Unix ms; 0 before the first evaluation.
    pub last_evaluation: i64,
    pub evaluation_seconds: f64,
}

/// A group and its rules' status.
#[derive(Debug, Clone)]
pub struct GroupStatus {
    pub group: Arc<RuleGroup>,
    pub rules: Vec<RuleStatus>,
    pub last_evaluation: i64,
    pub evaluation_seconds: f64,
}

/// Persisted alert state: group key → rule key → state.
type Persisted = BTreeMap<String, BTreeMap<String, RuleState>>;

/// One group and its evaluation state.
type Slot = Arc<Mutex<GroupStatus>>;

/// Evaluates rule groups and sends their alerts.
pub struct Engine {
    config: EngineConfig,
    query: QueryFn,
    groups: Mutex<Vec<Slot>>,
    /// The groups' tickers while running.
    tasks: Mutex<Option<Vec<tokio::task::JoinHandle<()>>>>,
    http: reqwest::Client,
    persist_lock: Mutex<()>,
}

fn group_key(g: &RuleGroup) -> String {
    format!("{};{}", g.source, g.name)
}

fn rule_key(index: usize, rule: &Rule) -> String {
    format!("{index}:{}", rule.name())
}

impl Engine {
    /// An engine for `groups`, with alert state restored from the data
    /// directory when there is one.
    pub fn new(
        groups: Vec<RuleGroup>,
        config: EngineConfig,
        query: QueryFn,
    ) -> Result<Self, String> {
        let persisted = match &config.data_dir {
            Some(dir) => load_state(&dir.join(STATE_DIR))?,
            None => Persisted::new(),
        };
        let groups = slots(groups, &persisted);
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            query,
            groups: Mutex::new(groups),
            tasks: Mutex::new(None),
            http,
            persist_lock: Mutex::new(()),
        })
    }

    fn slots(&self) -> Vec<Slot> {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A copy of every group's status (for the read APIs).
    pub fn status(&self) -> Vec<GroupStatus> {
        self.slots()
            .iter()
            .map(|g| g.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Runs every group on its own ticker until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()> + Send) {
        self.start();
        shutdown.await;
        if let Some(tasks) = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).take() {
            tasks.iter().for_each(|t| t.abort());
        }
    }

    /// (Re)starts a ticker per group.
    fn start(self: &Arc<Self>) {
        let tasks = self
            .slots()
            .into_iter()
            .map(|slot| {
                let engine = Arc::clone(self);
                tokio::spawn(async move { engine.run_group(slot).await })
            })
            .collect();
        let old = self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(tasks);
        old.into_iter().flatten().for_each(|t| t.abort());
    }

    /// Replaces the rule groups (a reload, or a tenant's change): a rule that
    /// is still there keeps its alerts; tickers restart if running.
    pub fn replace_groups(self: &Arc<Self>, groups: Vec<RuleGroup>) {
        let mut kept = Persisted::new();
        for slot in self.slots() {
            let g = slot.lock().unwrap_or_else(|e| e.into_inner());
            let rules = g
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| (rule_key(i, &r.rule), r.state.clone()))
                .collect();
            kept.insert(group_key(&g.group), rules);
        }
        *self.groups.lock().unwrap_or_else(|e| e.into_inner()) = slots(groups, &kept);
        let running = self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if running {
            self.start();
        }
        if let Err(e) = self.persist() {
            tracing::error!(error = %e, "persisting alert state failed");
        }
    }

    async fn run_group(&self, slot: Slot) {
        let (interval, phase) = {
            let g = slot.lock().unwrap_or_else(|e| e.into_inner());
            let interval = g.group.interval.as_millis().max(1) as i64;
            let phase = (fnv64(&group_key(&g.group)) % interval as u64) as i64;
            (interval, phase)
        };
        let wake = {
            let g = slot.lock().unwrap_or_else(|e| e.into_inner());
            g.group.records.as_ref().map(|r| Arc::clone(&r.wake))
        };
        loop {
            let now = unix_ms();
            // The next tick of this group's stable phase; missed ticks are skipped.
            let next = ((now - phase).div_euclid(interval) + 1) * interval + phase;
            let sleep = tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64));
            match &wake {
                // An event or audit group also wakes when a record meets a rule.
                Some(wake) => {
                    tokio::select! {
                        () = sleep => self.evaluate_slot(&slot, next).await,
                        () = wake.notified() => self.evaluate_slot(&slot, unix_ms()).await,
                    }
                }
                None => {
                    sleep.await;
                    self.evaluate_slot(&slot, next).await;
                }
            }
        }
    }

    /// Evaluates group `index` (in configuration order) at `ts` (Unix ms).
    pub async fn evaluate_group(&self, index: usize, ts: i64) {
        if let Some(slot) = self.slots().get(index) {
            self.evaluate_slot(slot, ts).await;
        }
    }

    /// Evaluates a group at `ts`: its rules in order, alerts sent as due,
    /// state persisted.
    async fn evaluate_slot(&self, slot: &Slot, ts: i64) {
        let started = Instant::now();
        // The group's rules are shared, not copied, for the evaluation.
        let group = Arc::clone(&slot.lock().unwrap_or_else(|e| e.into_inner()).group);
        let at = ts - group.query_offset.as_millis() as i64;
        for (i, rule) in group.rules.iter().enumerate() {
            let rule_started = Instant::now();
            let result = match rule {
                // Event and audit rules: the keys their records keep active.
                Rule::Alerting(AlertingRule {
                    records: Some(slot),
                    ..
                }) => Ok(slot.series(ts)),
                _ => (self.query)(rule.expr().to_string(), at, group.tenant.clone()).await,
            };
            let mut due = Vec::new();
            let mut recorded = Vec::new();
            {
                let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
                let status = &mut g.rules[i];
                status.last_evaluation = ts;
                let outcome = match (&status.rule, result) {
                    (_, Err(e)) => Err(e),
                    (Rule::Recording(r), Ok(samples)) => {
                        if group.limit > 0 && samples.len() as u64 > group.limit {
                            Err(format!(
                                "exceeded limit of {} with {} series",
                                group.limit,
                                samples.len()
                            ))
                        } else {
                            recorded = recording_series(r, &group, samples);
                            Ok(())
                        }
                    }
                    (Rule::Alerting(a), Ok(samples)) => {
                        let candidates = self.candidates(a, &group, samples);
                        let outcome = status
                            .state
                            .evaluate(
                                ts,
                                candidates,
                                a.for_.as_millis() as i64,
                                a.keep_firing_for.as_millis() as i64,
                                group.limit,
                            )
                            .map_err(|e| e.to_string());
                        due = status.state.due_notifications(
                            ts,
                            self.config.resend_delay.as_millis() as i64,
                            group.interval.as_millis() as i64,
                            &|| self.generator_url(&a.expr),
                        );
                        outcome
                    }
                };
                match outcome {
                    Ok(()) => {
                        status.health = Health::Ok;
                        status.last_error.clear();
                    }
                    Err(e) => {
                        tracing::warn!(group = %group.name, rule = %rule.name(), error = %e, "rule evaluation failed");
                        status.health = Health::Err;
                        status.last_error = e;
                    }
                }
                status.evaluation_seconds = rule_started.elapsed().as_secs_f64();
            }
            if !due.is_empty() {
                self.send(due, ts).await;
            }
            if let Some(writer) = &self.config.remote_write {
                if let Err(e) = writer.write(recorded, at).await {
                    tracing::warn!(group = %group.name, rule = %rule.name(), error = %e, "writing recorded series failed");
                    let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
                    g.rules[i].health = Health::Err;
                    g.rules[i].last_error = e;
                }
            }
        }
        {
            let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
            g.last_evaluation = ts;
            g.evaluation_seconds = started.elapsed().as_secs_f64();
        }
        if let Err(e) = self.persist_group(slot) {
            tracing::error!(error = %e, "persisting alert state failed");
        }
    }

    /// The alerts a rule's samples make: labels without `__name__`, plus the
    /// group's and the rule's (templated) labels and `alertname`; templated
    /// annotations.
    fn candidates(
        &self,
        rule: &AlertingRule,
        group: &RuleGroup,
        samples: Vec<(Labels, f64)>,
    ) -> Vec<Candidate> {
        samples
            .into_iter()
            .map(|(mut series, value)| {
                series.remove("__name__");
                // Other `__` labels are template inputs only (an event or
                // audit rule's `%field` values), never alert labels.
                let mut labels = series.clone();
                labels.retain(|k, _| !k.starts_with("__"));
                let data = TemplateData {
                    labels: Some(&series),
                    external_labels: Some(&self.config.external_labels),
                    external_url: &self.config.external_url,
                    value,
                };
                for (k, v) in &group.labels {
                    labels.insert(k.clone(), v.clone());
                }
                for (k, t) in &rule.labels {
                    labels.insert(k.clone(), t.expand(&data));
                }
                match &group.tenant {
                    Some(TenantLevel::Namespace(ns)) => {
                        labels.insert("namespace".into(), ns.clone());
                    }
                    Some(TenantLevel::Workspace(ws)) => {
                        labels.insert("workspace".into(), ws.clone());
                    }
                    Some(TenantLevel::Cluster) | None => {}
                }
                labels.insert("alertname".into(), rule.name.clone());
                let annotations = rule
                    .annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), t.expand(&data)))
                    .collect();
                Candidate {
                    labels,
                    annotations,
                    value,
                }
            })
            .collect()
    }

    fn generator_url(&self, expr: &str) -> String {
        format!(
            "{}/graph?g0.expr={}&g0.tab=1",
            self.config.external_url.trim_end_matches('/'),
            query_escape(expr)
        )
    }

    /// Posts alerts to every Alertmanager, as Prometheus does: a failed batch
    /// is dropped (the resend delay makes up for it).
    async fn send(&self, mut alerts: Vec<Notification>, ts: i64) {
        for n in &mut alerts {
            for (k, v) in &self.config.external_labels {
                n.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(dispatcher) = &self.config.dispatcher {
            dispatcher.ingest(&alerts, ts);
        }
        if self.config.alertmanagers.is_empty() {
            return;
        }
        let body: Vec<serde_json::Value> = alerts
            .into_iter()
            .map(|n| {
                serde_json::json!({
                    "labels": n.labels,
                    "annotations": n.annotations,
                    "startsAt": rfc3339_ms(n.starts_at),
                    "endsAt": rfc3339_ms(n.ends_at),
                    "generatorURL": n.generator_url,
                })
            })
            .collect();
        for am in &self.config.alertmanagers {
            let url = format!("{}/api/v2/alerts", am.trim_end_matches('/'));
            match self.http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::debug!(alertmanager = %am, alerts = body.len(), "alerts sent");
                }
                Ok(r) => {
                    tracing::warn!(alertmanager = %am, status = %r.status(), "alertmanager refused alerts")
                }
                Err(e) => tracing::warn!(alertmanager = %am, error = %e, "sending alerts failed"),
            }
        }
    }

    /// Writes every rule's alert state to the data directory (atomically).
    /// Writes every group's alert state, and removes the files of groups
    /// that are gone.
    fn persist(&self) -> Result<(), String> {
        let Some(dir) = &self.config.data_dir else {
            return Ok(());
        };
        let slots = self.slots();
        let mut files = std::collections::BTreeSet::new();
        for slot in &slots {
            files.insert(self.persist_group(slot)?);
        }
        let state_dir = dir.join(STATE_DIR);
        if let Ok(entries) = std::fs::read_dir(&state_dir) {
            // Only state files: a temporary file may belong to a write in progress.
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "json") && !files.contains(&e.path()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// Writes one group's alert state (atomically) to its own file, so a
    /// group's evaluation costs one small write however many groups there are.
    fn persist_group(&self, slot: &Slot) -> Result<PathBuf, String> {
        let Some(dir) = &self.config.data_dir else {
            return Ok(PathBuf::new());
        };
        let (key, rules) = {
            let g = slot.lock().unwrap_or_else(|e| e.into_inner());
            let rules: BTreeMap<String, RuleState> = g
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.state.alerts.is_empty())
                .map(|(i, r)| (rule_key(i, &r.rule), r.state.clone()))
                .collect();
            (group_key(&g.group), rules)
        };
        let path = dir
            .join(STATE_DIR)
            .join(format!("{:016x}.json", fnv64(&key)));
        let bytes =
            serde_json::to_vec(&SavedGroup { group: key, rules }).map_err(|e| e.to_string())?;
        let _guard = self.persist_lock.lock().unwrap_or_else(|e| e.into_inner());
        write_atomically(&path, &bytes)?;
        Ok(path)
    }
}

/// A recording rule's output: the result's labels without `__name__`, plus
/// the group's and the rule's labels, named after the rule.
fn recording_series(
    rule: &crate::rules::RecordingRule,
    group: &RuleGroup,
    samples: Vec<(Labels, f64)>,
) -> Vec<(Labels, f64)> {
    samples
        .into_iter()
        .map(|(mut labels, value)| {
            labels.remove("__name__");
            labels.extend(group.labels.clone());
            labels.extend(rule.labels.clone());
            labels.insert("__name__".into(), rule.record.clone());
            (labels, value)
        })
        .collect()
}

/// One group's saved alert state.
#[derive(Serialize, Deserialize)]
struct SavedGroup {
    group: String,
    rules: BTreeMap<String, RuleState>,
}

/// Every group's saved state in `dir`.
fn load_state(dir: &std::path::Path) -> Result<Persisted, String> {
    let mut out = Persisted::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let saved: SavedGroup =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        out.insert(saved.group, saved.rules);
    }
    Ok(out)
}

/// Slots for `groups`, each rule with the state saved under its keys.
fn slots(groups: Vec<RuleGroup>, saved: &Persisted) -> Vec<Slot> {
    groups
        .into_iter()
        .map(|group| {
            let saved = saved.get(&group_key(&group));
            let rules = group
                .rules
                .iter()
                .enumerate()
                .map(|(i, rule)| RuleStatus {
                    state: saved
                        .and_then(|s| s.get(&rule_key(i, rule)))
                        .cloned()
                        .unwrap_or_default(),
                    rule: rule.clone(),
                    health: Health::Unknown,
                    last_error: String::new(),
                    last_evaluation: 0,
                    evaluation_seconds: 0.0,
                })
                .collect();
            Arc::new(Mutex::new(GroupStatus {
                group: Arc::new(group),
                rules,
                last_evaluation: 0,
                evaluation_seconds: 0.0,
            }))
        })
        .collect()
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// FNV-1a, for the groups' evaluation phase.
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rule_file;
    use crate::state::AlertState;

    const RULES: &str = r#"
groups:
  - name: g
    interval: 1m
    labels: {team: platform}
    rules:
      - alert: Down
        expr: up == 0
        for: 2m
        labels: {severity: "{{ if eq $labels.instance \"a\" }}page{{ else }}ticket{{ end }}"}
        annotations: {summary: "{{ $labels.instance }} down ({{ $value }})"}
      - record: x
        expr: broken_on_purpose
"#;

    fn engine(dir: &std::path::Path, down: Vec<&'static str>) -> Engine {
        let groups = parse_rule_file("t.yaml", RULES).unwrap();
        let query: QueryFn = Arc::new(move |expr, _at, _tenant| {
            let down = down.clone();
            Box::pin(async move {
                if expr == "broken_on_purpose" {
                    return Err("bad_data: no such thing".to_string());
                }
                Ok(down
                    .iter()
                    .map(|i| {
                        (
                            Labels::from([
                                ("__name__".to_string(), "up".to_string()),
                                ("instance".to_string(), i.to_string()),
                            ]),
                            0.0,
                        )
                    })
                    .collect())
            })
        });
        let config = EngineConfig {
            resend_delay: Duration::from_secs(60),
            external_url: "http://periscope".into(),
            external_labels: Labels::new(),
            alertmanagers: vec![],
            data_dir: Some(dir.to_path_buf()),
            dispatcher: None,
            remote_write: None,
        };
        Engine::new(groups, config, query).unwrap()
    }

    #[tokio::test]
    async fn alerts_get_labels_annotations_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), vec!["a", "b"]);
        e.evaluate_group(0, 60_000).await;
        let status = e.status();
        let down = &status[0].rules[0];
        assert_eq!(down.health, Health::Ok);
        let a = down
            .state
            .alerts
            .values()
            .find(|a| a.labels["instance"] == "a")
            .unwrap();
        assert_eq!(a.labels["alertname"], "Down");
        assert_eq!(a.labels["team"], "platform");
        assert_eq!(a.labels["severity"], "page");
        assert!(!a.labels.contains_key("__name__"));
        assert_eq!(a.annotations["summary"], "a down (0)");
        assert_eq!(a.state, AlertState::Pending);
        let recording = &status[0].rules[1];
        assert_eq!(recording.health, Health::Err);
        assert!(recording.last_error.contains("no such thing"));

        // A restart keeps the pending alerts' active time: they fire on schedule.
        drop(e);
        let e = engine(dir.path(), vec!["a"]);
        e.evaluate_group(0, 180_000).await;
        let status = e.status();
        let alerts: Vec<_> = status[0].rules[0].state.alerts.values().collect();
        assert_eq!(
            alerts.len(),
            1,
            "b is no longer down: its pending alert is gone"
        );
        assert_eq!(alerts[0].active_at, 60_000);
        assert_eq!(alerts[0].state, AlertState::Firing);
    }
}
