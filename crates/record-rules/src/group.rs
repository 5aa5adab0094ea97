//! Rule groups over event or audit records, as written (YAML) and as
//! validated: every problem named by its place (`rules[2].condition: ...`).
//!
//! ```yaml
//! name: crash-loops
//! type: event                 # event | audit
//! interval: 30s               # how often quiet alerts are resolved
//! dialect: kube-events        # or strict
//! labels: {team: payments}
//! lists: {restart_reasons: [BackOff, CrashLoopBackOff]}
//! macros: {warning_pod: 'type = "Warning" and involvedObject.kind = "Pod"'}
//! aliases: {pod: involvedObject.name}
//! rules:
//!   - alert: PodKeepsCrashing
//!     condition: warning_pod and reason in (restart_reasons)
//!     threshold: {count: 5, window: 10m, by: [namespace, pod]}
//!     quiet: 30m
//!     severity: critical
//!     labels: {component: "%source.component"}
//!     annotations:
//!       summary: "{{ $labels.pod }} restarted {{ $value }} times"
//!       message: "%message"
//! ```

use crate::ast::{Condition, Literal};
use crate::parse::path;
use crate::record::RecordKind;
use crate::template::FieldRefs;
use crate::vocabulary::{Context, Dialect, Fields};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// How often a group resolves quiet alerts when it names no interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// How long an alert stays firing after its last matching record, by
/// default. kube-events' alerts resolve after Alertmanager's 5-minute
/// `resolve_timeout`, which makes an event object reported every 5 minutes
/// (a crash loop's BackOff at its longest back-off) flap; 15 minutes does not.
pub const DEFAULT_QUIET: Duration = Duration::from_secs(15 * 60);
/// Most records a threshold may ask for.
pub const MAX_THRESHOLD: usize = 10_000;
/// Longest threshold window and quiet period.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    kind: String,
    interval: Option<String>,
    dialect: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    lists: serde_yaml_ng::Mapping,
    #[serde(default)]
    macros: serde_yaml_ng::Mapping,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    alert: String,
    condition: String,
    #[serde(default)]
    severity: Option<String>,
    threshold: Option<ThresholdFile>,
    quiet: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdFile {
    count: usize,
    window: String,
    #[serde(default)]
    by: Option<Vec<String>>,
}

/// "At least `count` matching records per key within `window`".
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub count: usize,
    pub window: Duration,
    /// The alert labels that make the key (the others are dropped from the
    /// alert); `None`: all of them.
    pub by: Option<Vec<String>>,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct RecordRule {
    pub alert: String,
    /// The condition as written (what the rules API shows).
    pub condition_text: String,
    pub condition: Condition,
    pub severity: String,
    pub threshold: Threshold,
    pub quiet: Duration,
    /// Label values, `%field` references taken out.
    pub labels: BTreeMap<String, FieldRefs>,
    /// Annotation templates, `%field` references taken out.
    pub annotations: BTreeMap<String, FieldRefs>,
    pub enabled: bool,
}

/// A validated group.
#[derive(Debug, Clone)]
pub struct RecordGroup {
    pub name: String,
    pub kind: RecordKind,
    pub interval: Duration,
    pub dialect: Dialect,
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<RecordRule>,
}

/// Every problem of a group, each with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct GroupErrors(pub Vec<String>);

/// Whether a rule group's text declares `type: event` or `type: audit`
/// (anything else is a Prometheus rule group).
pub fn declared_kind(text: &str) -> Option<RecordKind> {
    #[derive(Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let typed: Typed = serde_yaml_ng::from_str(text).ok()?;
    match typed.kind.as_deref() {
        Some("event") => Some(RecordKind::Event),
        Some("audit") => Some(RecordKind::Audit),
        _ => None,
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration: {e}"))
}

fn label_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn literal(value: &serde_yaml_ng::Value) -> Option<Literal> {
    Some(match value {
        serde_yaml_ng::Value::String(s) => Literal::Text(s.clone()),
        serde_yaml_ng::Value::Number(n) => Literal::Number(n.as_f64()?),
        serde_yaml_ng::Value::Bool(b) => Literal::Bool(*b),
        _ => return None,
    })
}

/// Parses and validates a group. `expected_name` is the name in the path of
/// the API that writes it (the text's `name`, when given, must match).
pub fn parse_group(text: &str, expected_name: Option<&str>) -> Result<RecordGroup, GroupErrors> {
    let file: GroupFile =
        serde_yaml_ng::from_str(text).map_err(|e| GroupErrors(vec![e.to_string()]))?;
    let mut errors = Vec::new();
    let name = match expected_name {
        Some(expected) if !file.name.is_empty() && file.name != expected => {
            errors.push(format!(
                "name: {:?} differs from the one in the path ({expected:?})",
                file.name
            ));
            expected.to_string()
        }
        Some(expected) => expected.to_string(),
        None if file.name.is_empty() => {
            errors.push("name: must not be empty".into());
            String::new()
        }
        None => file.name.clone(),
    };
    let kind = match file.kind.as_str() {
        "event" => RecordKind::Event,
        "audit" => RecordKind::Audit,
        other => {
            return Err(GroupErrors(vec![format!(
                "type: {other:?} is neither event nor audit"
            )]))
        }
    };
    let interval = match file.interval.as_deref().map(duration) {
        None => DEFAULT_INTERVAL,
        Some(Ok(d)) if !d.is_zero() => d,
        Some(Ok(_)) => {
            errors.push("interval: must be more than zero".into());
            DEFAULT_INTERVAL
        }
        Some(Err(e)) => {
            errors.push(format!("interval: {e}"));
            DEFAULT_INTERVAL
        }
    };
    let dialect = match file.dialect.as_deref() {
        None | Some("kube-events") => Dialect::KubeEvents,
        Some("strict") => Dialect::Strict,
        Some(other) => {
            errors.push(format!(
                "dialect: {other:?} is neither kube-events nor strict"
            ));
            Dialect::KubeEvents
        }
    };
    for key in file.labels.keys() {
        if !label_name_ok(key) {
            errors.push(format!("labels: {key:?} is not a valid label name"));
        }
    }
    let mut context = Context {
        dialect,
        fields: match kind {
            RecordKind::Event => Fields::Plain,
            RecordKind::Audit => Fields::Audit,
        },
        ..Default::default()
    };
    for (alias, target) in &file.aliases {
        match path(target, 0) {
            Ok(p) => {
                context.aliases.insert(alias.clone(), p);
            }
            Err(e) => errors.push(format!("aliases.{alias}: {}", e.message)),
        }
    }
    // Lists and macros in the order written: each may use the ones before it.
    for (key, items) in &file.lists {
        let Some(key) = key.as_str() else {
            errors.push("lists: names are text".into());
            continue;
        };
        let Some(items) = items.as_sequence() else {
            errors.push(format!("lists.{key}: a list of values"));
            continue;
        };
        let mut values = Vec::new();
        for item in items {
            match item.as_str().and_then(|s| context.lists.get(s)) {
                Some(nested) => values.extend(nested.iter().cloned()),
                None => match literal(item) {
                    Some(l) => values.push(l),
                    None => {
                        errors.push(format!("lists.{key}: items are text, numbers or booleans"))
                    }
                },
            }
        }
        context.lists.insert(key.to_string(), values);
    }
    for (key, condition) in &file.macros {
        let (Some(key), Some(condition)) = (key.as_str(), condition.as_str()) else {
            errors.push("macros: each is a name and a condition".into());
            continue;
        };
        match Condition::parse_in(condition, &context) {
            Ok(c) => {
                context.macros.insert(key.to_string(), c);
            }
            Err(e) => errors.push(format!("macros.{key}: {e}")),
        }
    }
    let mut names = HashSet::new();
    let mut rules = Vec::new();
    for (i, rule) in file.rules.into_iter().enumerate() {
        let at = format!("rules[{i}]");
        match parse_rule(rule, &context, &at) {
            Ok(rule) => {
                if !names.insert(rule.alert.clone()) {
                    errors.push(format!("{at}.alert: {:?} is used twice", rule.alert));
                }
                rules.push(rule);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(GroupErrors(errors));
    }
    Ok(RecordGroup {
        name,
        kind,
        interval,
        dialect,
        labels: file.labels,
        rules,
    })
}

fn parse_rule(rule: RuleFile, context: &Context, at: &str) -> Result<RecordRule, Vec<String>> {
    let mut errors = Vec::new();
    if !label_name_ok(&rule.alert) {
        errors.push(format!(
            "{at}.alert: {:?} is not a valid alert name",
            rule.alert
        ));
    }
    let condition = Condition::parse_in(&rule.condition, context)
        .map_err(|e| errors.push(format!("{at}.condition: {e}")))
        .ok();
    let severity = rule.severity.unwrap_or_else(|| "warning".to_string());
    if severity.is_empty() {
        errors.push(format!("{at}.severity: must not be empty"));
    }
    let threshold = match rule.threshold {
        None => Threshold {
            count: 1,
            window: Duration::ZERO,
            by: None,
        },
        Some(t) => {
            if t.count == 0 || t.count > MAX_THRESHOLD {
                errors.push(format!(
                    "{at}.threshold.count: {} is not between 1 and {MAX_THRESHOLD}",
                    t.count
                ));
            }
            let window = duration(&t.window).unwrap_or_else(|e| {
                errors.push(format!("{at}.threshold.window: {e}"));
                Duration::ZERO
            });
            if window.is_zero() || window > MAX_WINDOW {
                errors.push(format!(
                    "{at}.threshold.window: {:?} is not between 1s and 24h",
                    t.window
                ));
            }
            for label in t.by.iter().flatten() {
                if !label_name_ok(label) {
                    errors.push(format!("{at}.threshold.by: {label:?} is not a label name"));
                }
            }
            Threshold {
                count: t.count,
                window,
                by: t.by,
            }
        }
    };
    let quiet = match rule.quiet.as_deref().map(duration) {
        None => DEFAULT_QUIET,
        Some(Ok(d)) if !d.is_zero() && d <= MAX_WINDOW => d,
        Some(Ok(_)) => {
            errors.push(format!("{at}.quiet: not between 1s and 24h"));
            DEFAULT_QUIET
        }
        Some(Err(e)) => {
            errors.push(format!("{at}.quiet: {e}"));
            DEFAULT_QUIET
        }
    };
    let mut refs = |what: &str, map: BTreeMap<String, String>| {
        map.into_iter()
            .filter_map(|(k, v)| {
                if what == "labels" && (!label_name_ok(&k) || k == "alertname") {
                    errors.push(format!("{at}.labels: {k:?} is not a label a rule may set"));
                }
                match FieldRefs::parse(&v, context) {
                    Ok(r) => Some((k, r)),
                    Err(e) => {
                        errors.push(format!("{at}.{what}.{k}: {e}"));
                        None
                    }
                }
            })
            .collect::<BTreeMap<_, _>>()
    };
    let labels = refs("labels", rule.labels);
    let annotations = refs("annotations", rule.annotations);
    match (condition, errors.is_empty()) {
        (Some(condition), true) => Ok(RecordRule {
            alert: rule.alert,
            condition_text: rule.condition,
            condition,
            severity,
            threshold,
            quiet,
            labels,
            annotations,
            enabled: rule.enabled,
        }),
        _ => Err(errors),
    }
}
