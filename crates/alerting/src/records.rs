//! Event and audit rules in the alerting engine. Records are evaluated as
//! they arrive (the ingest paths call [`RecordRules::evaluate`] before the
//! write and [`RecordRules::commit`] once it is durable); each rule's
//! threshold windows live in a [`RuleSlot`] that the engine asks, at every
//! evaluation of the group, for the keys still active — so these alerts go
//! through the same state, notification pipeline, Alertmanagers, silences
//! and history as metric alerts, and resolve once a rule has been quiet.
//! Windows are kept in the data directory, written at each evaluation that
//! changed them, so a restart neither loses a window nor fires again.

use crate::files::write_atomically;
use crate::rules::{AlertingRule, RecordGroupInfo, Rule, RuleGroup, TenantLevel};
use crate::state::Labels;
use crate::template::Template;
use periscope_audit::AuditRecord;
use periscope_events::EventRecord;
use periscope_record_rules::{
    field_label, InstalledRule, Match, Reach, RecordGroup, RecordKind, RuleRecord, RuleSet,
    RuleWindows, Threshold,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Directory of the rules' window files in the data directory.
const WINDOW_DIR: &str = "record-rule-windows";

/// Workspaces and their namespaces, as the tenancy layer currently knows them.
pub type MembershipFn = Arc<dyn Fn() -> Arc<BTreeMap<String, BTreeSet<String>>> + Send + Sync>;

/// A group of event or audit rules to install, and where it came from.
#[derive(Debug, Clone)]
pub struct RecordGroupSource {
    /// `builtin:kube-events.yaml`, `tenant:namespace/team-a`, ...
    pub source: String,
    /// A tenant's level; `None` for built-in groups (every record).
    pub tenant: Option<TenantLevel>,
    pub group: RecordGroup,
}

/// One rule's threshold windows, shared by the ingest paths (which count
/// matching records) and the engine (which reads the active keys).
pub struct RuleSlot {
    id: String,
    threshold: Threshold,
    quiet: Duration,
    max_keys: usize,
    windows: Mutex<RuleWindows>,
    /// Changed since last written.
    dirty: AtomicBool,
    file: Option<PathBuf>,
    wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for RuleSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSlot").field("id", &self.id).finish()
    }
}

impl RuleSlot {
    /// The active keys at `ts` (Unix ms) as the engine's "query result":
    /// each key's labels, its annotation field values as `__fieldN` labels,
    /// and the number of records counted. Forgets keys with nothing left,
    /// and writes the windows when they changed.
    pub fn series(&self, ts: i64) -> Vec<(Labels, f64)> {
        let now_ns = ts.saturating_mul(1_000_000);
        let quiet_ns = self.quiet.as_nanos() as i64;
        let horizon_ns = (self.threshold.window.max(self.quiet)).as_nanos() as i64;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.prune(now_ns, quiet_ns, horizon_ns) {
            self.dirty.store(true, Ordering::Relaxed);
        }
        let series = windows
            .active(now_ns, quiet_ns)
            .map(|w| {
                let mut labels = w.labels.clone();
                for (n, value) in w.fields.iter().enumerate() {
                    labels.insert(field_label(n), value.clone());
                }
                (labels, w.counted() as f64)
            })
            .collect();
        if self.dirty.swap(false, Ordering::Relaxed) {
            if let Some(file) = &self.file {
                match serde_json::to_vec(&*windows) {
                    Ok(bytes) => {
                        if let Err(e) = write_atomically(file, &bytes) {
                            tracing::error!(rule = %self.id, error = %e, "writing rule windows failed");
                            self.dirty.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        tracing::error!(rule = %self.id, error = %e, "encoding rule windows failed")
                    }
                }
            }
        }
        series
    }

    fn observe(&self, m: Match) -> bool {
        let met = self
            .windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(m, &self.threshold, self.max_keys);
        self.dirty.store(true, Ordering::Relaxed);
        met
    }
}

/// The installed rules of both kinds.
#[derive(Default)]
struct Installed {
    events: RuleSet,
    event_slots: Vec<Arc<RuleSlot>>,
    audit: RuleSet,
    audit_slots: Vec<Arc<RuleSlot>>,
}

/// What a batch matched, to be counted once the batch is durable.
#[must_use = "commit it once the records are stored"]
pub struct Evaluated {
    /// The rules the batch was evaluated against (a reinstall meanwhile
    /// keeps the slots of rules that stay).
    installed: Arc<Installed>,
    kind: RecordKind,
    matches: Vec<Match>,
}

impl Evaluated {
    /// How many (rule, record) matches the batch had.
    pub fn len(&self) -> usize {
        self.matches.len()
    }

    /// Whether it matched nothing.
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty()
    }
}

/// The event and audit rules, their windows, and the index records go through.
pub struct RecordRules {
    installed: RwLock<Arc<Installed>>,
    data_dir: Option<PathBuf>,
    max_keys: usize,
    membership: MembershipFn,
    /// Conditions that could not be evaluated on a record (a number compared
    /// with text in kube-events' dialect).
    evaluation_errors: AtomicU64,
}

fn reach(tenant: &Option<TenantLevel>) -> Reach {
    match tenant {
        None | Some(TenantLevel::Cluster) => Reach::All,
        Some(TenantLevel::Namespace(ns)) => Reach::Namespace(ns.clone()),
        Some(TenantLevel::Workspace(ws)) => Reach::Workspace(ws.clone()),
    }
}

type Templates = (Template, BTreeMap<String, Template>);

/// A rule's severity and annotations as templates, each `%field` reference
/// numbered across the annotations in their order (as the matches carry them).
fn templates(rule: &periscope_record_rules::RecordRule) -> Result<Templates, String> {
    let mut annotations = BTreeMap::new();
    let mut first = 0;
    for (key, refs) in &rule.annotations {
        let template = Template::parse(&refs.template(first))
            .map_err(|e| format!("rule {:?}, annotations.{key}: {e}", rule.alert))?;
        first += refs.paths.len();
        annotations.insert(key.clone(), template);
    }
    let severity = Template::parse(&rule.severity)
        .map_err(|e| format!("rule {:?}, severity: {e}", rule.alert))?;
    Ok((severity, annotations))
}

/// Whether every template of a group compiles.
pub fn check_templates(group: &RecordGroup) -> Result<(), String> {
    group
        .rules
        .iter()
        .try_for_each(|r| templates(r).map(|_| ()))
}

/// FNV-1a, for file names.
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl RecordRules {
    /// Rules with windows kept in `data_dir` (in memory only without one),
    /// at most `max_keys` keys per rule, workspaces resolved by `membership`.
    pub fn new(data_dir: Option<PathBuf>, max_keys: usize, membership: MembershipFn) -> Self {
        Self {
            installed: RwLock::new(Arc::new(Installed::default())),
            data_dir: data_dir.map(|d| d.join(WINDOW_DIR)),
            max_keys,
            membership,
            evaluation_errors: AtomicU64::new(0),
        }
    }

    fn current(&self) -> Arc<Installed> {
        Arc::clone(&self.installed.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Installs `groups` and returns them as the engine's groups. A rule
    /// that is still there (same group, name, condition and threshold)
    /// keeps its windows; a new one starts from what its file holds.
    /// A group whose templates do not compile is skipped (and logged);
    /// tenants' groups are checked on write ([`check_templates`]).
    pub fn install(&self, groups: Vec<RecordGroupSource>) -> Vec<RuleGroup> {
        let old = self.current();
        let mut kept: HashMap<&str, &Arc<RuleSlot>> = HashMap::new();
        for slot in old.event_slots.iter().chain(&old.audit_slots) {
            kept.insert(&slot.id, slot);
        }
        let mut installed = Installed::default();
        let (mut event_rules, mut audit_rules) = (Vec::new(), Vec::new());
        let mut engine_groups = Vec::new();
        let mut ids = BTreeSet::new();
        for source in groups {
            if let Err(e) = check_templates(&source.group) {
                tracing::error!(group = %source.group.name, source = %source.source, error = %e, "event or audit rule group skipped");
                continue;
            }
            let group = Arc::new(source.group);
            let wake = Arc::new(tokio::sync::Notify::new());
            let mut rules = Vec::new();
            for (index, rule) in group.rules.iter().enumerate() {
                let id = format!(
                    "{};{};{};{};{:?};{:?}",
                    source.source,
                    group.name,
                    rule.alert,
                    rule.condition_text,
                    rule.threshold,
                    rule.quiet
                );
                let slot = match kept.get(id.as_str()) {
                    Some(slot) => Arc::clone(slot),
                    None => Arc::new(self.new_slot(&id, rule, &wake)),
                };
                ids.insert(fnv64(&id));
                let Ok((severity, annotations)) = templates(rule) else {
                    continue; // checked above
                };
                rules.push(Rule::Alerting(AlertingRule {
                    name: rule.alert.clone(),
                    expr: rule.condition_text.clone(),
                    for_: Duration::ZERO,
                    keep_firing_for: Duration::ZERO,
                    labels: BTreeMap::from([("severity".to_string(), severity)]),
                    annotations,
                    records: Some(Arc::clone(&slot)),
                }));
                let installed_rule = InstalledRule {
                    group: Arc::clone(&group),
                    index,
                    reach: reach(&source.tenant),
                };
                match group.kind {
                    RecordKind::Event => {
                        event_rules.push(installed_rule);
                        installed.event_slots.push(slot);
                    }
                    RecordKind::Audit => {
                        audit_rules.push(installed_rule);
                        installed.audit_slots.push(slot);
                    }
                }
            }
            engine_groups.push(RuleGroup {
                name: group.name.clone(),
                source: source.source,
                interval: group.interval,
                query_offset: Duration::ZERO,
                limit: 0,
                labels: group.labels.clone(),
                rules,
                tenant: source.tenant,
                records: Some(RecordGroupInfo {
                    kind: group.kind,
                    wake,
                }),
            });
        }
        installed.events = RuleSet::new::<EventRecord>(event_rules);
        installed.audit = RuleSet::new::<AuditRecord>(audit_rules);
        *self.installed.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(installed);
        self.remove_stale_files(&ids);
        engine_groups
    }

    fn new_slot(
        &self,
        id: &str,
        rule: &periscope_record_rules::RecordRule,
        wake: &Arc<tokio::sync::Notify>,
    ) -> RuleSlot {
        let file = self
            .data_dir
            .as_ref()
            .map(|d| d.join(format!("{:016x}.json", fnv64(id))));
        let windows = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| match serde_json::from_slice(&bytes) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(rule = %rule.alert, error = %e, "unreadable rule windows; starting empty");
                    None
                }
            })
            .unwrap_or_default();
        RuleSlot {
            id: id.to_string(),
            threshold: rule.threshold.clone(),
            quiet: rule.quiet,
            max_keys: self.max_keys,
            windows: Mutex::new(windows),
            dirty: AtomicBool::new(false),
            file,
            wake: Arc::clone(wake),
        }
    }

    /// Removes the window files of rules no longer installed.
    fn remove_stale_files(&self, ids: &BTreeSet<u64>) {
        let Some(dir) = &self.data_dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let stale = path.extension().is_some_and(|x| x == "json")
                && path
                    .file_stem()
                    .and_then(|s| u64::from_str_radix(&s.to_string_lossy(), 16).ok())
                    .is_some_and(|id| !ids.contains(&id));
            if stale {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Evaluates a batch of event records (before they are written).
    pub fn evaluate_events(&self, records: &[EventRecord]) -> Evaluated {
        let installed = self.current();
        let matches = self.evaluate(&installed.events, records);
        Evaluated {
            installed,
            kind: RecordKind::Event,
            matches,
        }
    }

    /// Evaluates a batch of audit records (before they are written).
    pub fn evaluate_audit(&self, records: &[AuditRecord]) -> Evaluated {
        let installed = self.current();
        let matches = self.evaluate(&installed.audit, records);
        Evaluated {
            installed,
            kind: RecordKind::Audit,
            matches,
        }
    }

    fn evaluate<R: RuleRecord>(&self, set: &RuleSet, records: &[R]) -> Vec<Match> {
        if set.rules().is_empty() {
            return Vec::new();
        }
        let membership = (self.membership)();
        let in_workspace = |ws: &str, ns: &str| membership.get(ws).is_some_and(|m| m.contains(ns));
        let found = set.evaluate(records, &in_workspace);
        if !found.errors.is_empty() {
            self.evaluation_errors
                .fetch_add(found.errors.len() as u64, Ordering::Relaxed);
            if let Some((rule, error)) = found.errors.first() {
                let rule = set.rules()[*rule].rule();
                tracing::warn!(rule = %rule.alert, %error, errors = found.errors.len(), "a rule's condition could not be evaluated on a record");
            }
        }
        found.matches
    }

    /// Counts what a batch matched, once it is durable; wakes the groups of
    /// rules whose threshold a record (re)met, so their alerts go out now.
    pub fn commit(&self, evaluated: Evaluated) {
        let slots = match evaluated.kind {
            RecordKind::Event => &evaluated.installed.event_slots,
            RecordKind::Audit => &evaluated.installed.audit_slots,
        };
        for m in evaluated.matches {
            let slot = &slots[m.rule];
            if slot.observe(m) {
                slot.wake.notify_one();
            }
        }
    }

    /// Conditions that could not be evaluated on a record, so far.
    pub fn evaluation_errors(&self) -> u64 {
        self.evaluation_errors.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineConfig, QueryFn};
    use crate::state::AlertState;

    const GROUP: &str = r#"
name: crashes
type: event
interval: 1m
rules:
  - alert: PodBackOff
    condition: reason = "BackOff"
    threshold: {count: 3, window: 10m}
    quiet: 5m
    severity: critical
    annotations:
      summary: "{{ $labels.pod }} backed off {{ $value }} times: %message"
"#;

    /// 2026-12-01T10:MM:00Z in Unix ms.
    fn at(minute: i64) -> i64 {
        1_796_119_200_000 + minute * 60_000
    }

    fn backoff(minute: i64, count: u64) -> EventRecord {
        let line = serde_json::json!({
            "metadata": {"name": "web-1.b", "namespace": "team-a", "uid": "u1"},
            "involvedObject": {"kind": "Pod", "namespace": "team-a", "name": "web-1", "fieldPath": "spec.containers{web}"},
            "reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
            "count": count, "lastTimestamp": format!("2026-12-01T10:{minute:02}:00Z"),
        });
        periscope_events::parse_body(&line.to_string(), "c1", 1 << 20)
            .unwrap()
            .records
            .remove(0)
    }

    fn open(dir: &std::path::Path, level: TenantLevel) -> (Arc<RecordRules>, Engine) {
        let rules = Arc::new(RecordRules::new(
            Some(dir.to_path_buf()),
            1000,
            Arc::new(|| Arc::new(BTreeMap::new())),
        ));
        let group = periscope_record_rules::parse_group(GROUP, None).unwrap();
        let groups = rules.install(vec![RecordGroupSource {
            source: "tenant:namespace/team-a".into(),
            tenant: Some(level),
            group,
        }]);
        let query: QueryFn = Arc::new(|_, _, _| Box::pin(async { Err("no queries".to_string()) }));
        let config = EngineConfig {
            resend_delay: Duration::from_secs(60),
            external_url: "http://periscope".into(),
            external_labels: Labels::new(),
            alertmanagers: vec![],
            data_dir: Some(dir.to_path_buf()),
            dispatcher: None,
            remote_write: None,
        };
        (rules, Engine::new(groups, config, query).unwrap())
    }

    fn alerts(engine: &Engine) -> Vec<crate::Alert> {
        engine.status()[0].rules[0]
            .state
            .alerts
            .values()
            .cloned()
            .collect()
    }

    #[tokio::test]
    async fn a_threshold_fires_once_met_survives_a_restart_and_resolves_when_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let level = TenantLevel::Namespace("team-a".into());
        let (rules, engine) = open(dir.path(), level.clone());
        for (minute, count) in [(0, 1), (2, 2)] {
            let evaluated = rules.evaluate_events(&[backoff(minute, count)]);
            assert_eq!(evaluated.len(), 1);
            rules.commit(evaluated);
        }
        // A re-delivery of the second report counts once.
        rules.commit(rules.evaluate_events(&[backoff(2, 2)]));
        engine.evaluate_group(0, at(3)).await;
        assert!(alerts(&engine).is_empty(), "two reports are not three");

        rules.commit(rules.evaluate_events(&[backoff(4, 3)]));
        engine.evaluate_group(0, at(4) + 30_000).await;
        let firing = alerts(&engine);
        assert_eq!(firing.len(), 1);
        let a = &firing[0];
        assert_eq!(a.state, AlertState::Firing);
        let labels: Vec<(&str, &str)> = a
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("alertname", "PodBackOff"),
                ("alerttype", "event"),
                ("cluster", "c1"),
                ("container", "web"),
                ("namespace", "team-a"),
                ("pod", "web-1"),
                ("severity", "critical"),
            ]
        );
        assert_eq!(
            a.annotations["summary"],
            "web-1 backed off 3 times: Back-off restarting failed container"
        );
        let fired_at = a.active_at;

        // A restart keeps the window and the alert: still firing, not anew.
        drop(engine);
        drop(rules);
        let (rules, engine) = open(dir.path(), level);
        engine.evaluate_group(0, at(6)).await;
        let after = alerts(&engine);
        assert_eq!(after.len(), 1);
        assert_eq!(
            (after[0].state, after[0].active_at),
            (AlertState::Firing, fired_at)
        );

        // Five quiet minutes after the last report, it resolves.
        engine.evaluate_group(0, at(9) + 1).await;
        let resolved = alerts(&engine);
        assert_eq!(resolved[0].state, AlertState::Inactive);
        assert_eq!(resolved[0].resolved_at, at(9) + 1);
        assert_eq!(rules.evaluation_errors(), 0);
    }

    #[tokio::test]
    async fn a_tenant_rule_never_sees_another_namespace_whatever_its_condition() {
        let dir = tempfile::tempdir().unwrap();
        let (rules, _engine) = open(dir.path(), TenantLevel::Namespace("team-b".into()));
        // The condition would match team-a's record; the level does not reach it.
        assert!(rules.evaluate_events(&[backoff(0, 1)]).is_empty());
    }
}
