//! Prometheus rule files (`groups: [{name, interval, limit, labels, rules}]`),
//! parsed and validated as Prometheus does (`model/rulefmt`), with every
//! problem named by its place in the file.

use crate::template::Template;
use promql_parser::util::parse_duration;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Evaluation interval of a group that names none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<GroupFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(default)]
    name: String,
    interval: Option<String>,
    query_offset: Option<String>,
    #[serde(default)]
    limit: u64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RuleFileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFileEntry {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A validated rule group.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    pub name: String,
    /// Where it came from (a file path, `builtin:nodes.yaml`, ...).
    pub source: String,
    pub interval: Duration,
    pub query_offset: Duration,
    /// Most alerts per alerting rule / series per recording rule; 0 = none.
    pub limit: u64,
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
    /// For a tenant's group: whose namespaces its queries are confined to.
    pub tenant: Option<TenantLevel>,
    /// For a group of event or audit rules: which records, and what wakes
    /// it early (a record that meets a rule's threshold).
    pub records: Option<RecordGroupInfo>,
}

/// What the engine knows of a group of event or audit rules.
#[derive(Debug, Clone)]
pub struct RecordGroupInfo {
    pub kind: periscope_record_rules::RecordKind,
    /// Notified when a record (re)meets one of the group's rules.
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

/// The level of a tenant's rule group, like KubeSphere's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TenantLevel {
    /// Queries confined to the namespace; alerts carry `namespace`.
    Namespace(String),
    /// Queries confined to the workspace's namespaces; alerts carry `workspace`.
    Workspace(String),
    /// Cluster-wide (cluster admins only).
    Cluster,
}

/// One rule of a group.
#[derive(Debug, Clone)]
pub enum Rule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

impl Rule {
    /// The alert name or the recorded metric name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Alerting(r) => &r.name,
            Rule::Recording(r) => &r.record,
        }
    }

    /// The PromQL expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Alerting(r) => &r.expr,
            Rule::Recording(r) => &r.expr,
        }
    }
}

/// An alerting rule.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    pub name: String,
    pub expr: String,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    /// Label templates.
    pub labels: BTreeMap<String, Template>,
    /// Annotation templates.
    pub annotations: BTreeMap<String, Template>,
    /// For an event or audit rule: where its alerts come from instead of a query.
    pub records: Option<std::sync::Arc<crate::records::RuleSlot>>,
}

/// A recording rule.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    pub record: String,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
}

/// Every problem found in a rule file, each with its place
/// (`groups[0].rules[2].expr: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleErrors(pub Vec<String>);

impl std::fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for RuleErrors {}

/// Parses and validates the rule groups of one file.
pub fn parse_rule_file(source: &str, text: &str) -> Result<Vec<RuleGroup>, RuleErrors> {
    let file: RuleFile = from_yaml(text).map_err(|e| RuleErrors(vec![format!("{source}: {e}")]))?;
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    let mut groups = Vec::new();
    for (g, group) in file.groups.into_iter().enumerate() {
        let at = format!("{source}: groups[{g}]");
        if !group.name.is_empty() && !names.insert(group.name.clone()) {
            errors.push(format!(
                "{at}.name: group {:?} is defined twice",
                group.name
            ));
        }
        groups.push(validate_group(&mut errors, &at, source, group));
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(RuleErrors(errors))
    }
}

/// Parses and validates one group given on its own (`{name, interval,
/// rules, ...}`, YAML or JSON) under the name `name`; a `name` in the text
/// must be the same.
pub fn parse_rule_group(source: &str, name: &str, text: &str) -> Result<RuleGroup, RuleErrors> {
    let mut group: GroupFile = from_yaml(text).map_err(|e| {
        RuleErrors(vec![format!(
            "{source}: not a valid YAML or JSON rule group (an object with `rules`, and optionally `interval`, \
             `query_offset`, `limit`, `labels`): {e}"
        )])
    })?;
    if group.name.is_empty() {
        group.name = name.to_string();
    } else if group.name != name {
        return Err(RuleErrors(vec![format!(
            "{source}: the group's name {:?} differs from the one in the path {name:?}",
            group.name
        )]));
    }
    let mut errors = Vec::new();
    let group = validate_group(&mut errors, &format!("{source}: {name}"), source, group);
    if errors.is_empty() {
        Ok(group)
    } else {
        Err(RuleErrors(errors))
    }
}

/// YAML (or JSON) text as `T`, behind the parser boundary: tenants write it.
fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    periscope_model::guard::no_panic(|| serde_yaml_ng::from_str(text))
        .map_err(|panic| format!("the YAML parser failed: {panic}"))?
        .map_err(|e| e.to_string())
}

fn validate_group(errors: &mut Vec<String>, at: &str, source: &str, group: GroupFile) -> RuleGroup {
    if group.name.is_empty() {
        errors.push(format!("{at}.name: must not be empty"));
    }
    let interval = duration(errors, &format!("{at}.interval"), group.interval.as_deref())
        .unwrap_or(DEFAULT_INTERVAL);
    if interval.is_zero() {
        errors.push(format!("{at}.interval: must be greater than zero"));
    }
    let query_offset = duration(
        errors,
        &format!("{at}.query_offset"),
        group.query_offset.as_deref(),
    )
    .unwrap_or_default();
    for (k, v) in &group.labels {
        check_label(errors, &format!("{at}.labels"), k, v);
    }
    let mut rules = Vec::new();
    for (r, rule) in group.rules.into_iter().enumerate() {
        if let Some(rule) = validate_rule(errors, &format!("{at}.rules[{r}]"), rule) {
            rules.push(rule);
        }
    }
    RuleGroup {
        name: group.name,
        source: source.to_string(),
        interval,
        query_offset,
        limit: group.limit,
        labels: group.labels,
        rules,
        tenant: None,
        records: None,
    }
}

fn validate_rule(errors: &mut Vec<String>, at: &str, rule: RuleFileEntry) -> Option<Rule> {
    let before = errors.len();
    match periscope_model::guard::no_panic(|| promql_parser::parser::parse(&rule.expr)) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => errors.push(format!("{at}.expr: {}", e.trim())),
        Err(panic) => errors.push(format!("{at}.expr: the query cannot be parsed: {panic}")),
    }
    for (k, v) in &rule.labels {
        check_label(errors, &format!("{at}.labels"), k, v);
    }
    let result = match (rule.alert, rule.record) {
        (Some(_), Some(_)) | (None, None) => {
            errors.push(format!(
                "{at}: exactly one of `alert` and `record` is required"
            ));
            None
        }
        (None, Some(record)) => {
            if !is_metric_name(&record) {
                errors.push(format!(
                    "{at}.record: {record:?} is not a valid metric name"
                ));
            }
            for (field, present) in [
                ("for", rule.for_.is_some()),
                ("keep_firing_for", rule.keep_firing_for.is_some()),
                ("annotations", !rule.annotations.is_empty()),
            ] {
                if present {
                    errors.push(format!("{at}.{field}: not allowed in a recording rule"));
                }
            }
            Some(Rule::Recording(RecordingRule {
                record,
                expr: rule.expr,
                labels: rule.labels,
            }))
        }
        (Some(name), None) => {
            if name.is_empty() {
                errors.push(format!("{at}.alert: must not be empty"));
            }
            let for_ = duration(errors, &format!("{at}.for"), rule.for_.as_deref());
            let keep = duration(
                errors,
                &format!("{at}.keep_firing_for"),
                rule.keep_firing_for.as_deref(),
            );
            let mut templates = |kind: &str, map: BTreeMap<String, String>| {
                map.into_iter()
                    .filter_map(|(k, v)| match Template::parse(&v) {
                        Ok(t) => Some((k, t)),
                        Err(e) => {
                            errors.push(format!("{at}.{kind}.{k}: {e}"));
                            None
                        }
                    })
                    .collect::<BTreeMap<_, _>>()
            };
            let labels = templates("labels", rule.labels);
            let annotations = templates("annotations", rule.annotations);
            Some(Rule::Alerting(AlertingRule {
                name,
                expr: rule.expr,
                for_: for_.unwrap_or_default(),
                keep_firing_for: keep.unwrap_or_default(),
                labels,
                annotations,
                records: None,
            }))
        }
    };
    (errors.len() == before).then_some(result).flatten()
}

fn duration(errors: &mut Vec<String>, at: &str, text: Option<&str>) -> Option<Duration> {
    let text = text?;
    match prometheus_duration(text) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.push(format!("{at}: {text:?} is not a duration: {e}"));
            None
        }
    }
}

/// A Prometheus duration (`30s`, `1h30m`, `1d`), zero included (`0s`).
pub(crate) fn prometheus_duration(text: &str) -> Result<Duration, String> {
    // Prometheus accepts zero durations (`for: 0s`); the parser does not.
    let zero = text.starts_with('0')
        && text
            .trim_start_matches('0')
            .chars()
            .all(|c| "smhdwy".contains(c));
    if zero {
        return Ok(Duration::ZERO);
    }
    // The parser panics on float seconds out of `Duration`'s range (`1e400`, `-1`).
    periscope_model::guard::no_panic(|| parse_duration(text))
        .map_err(|_| "out of range".to_string())?
}

fn check_label(errors: &mut Vec<String>, at: &str, name: &str, _value: &str) {
    if !periscope_model::is_label_name(name) || name.starts_with("__") {
        errors.push(format!("{at}: {name:?} is not a valid label name"));
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_file_parses_with_defaults() {
        let groups = parse_rule_file(
            "t.yaml",
            r#"
groups:
  - name: g
    labels: {team: a}
    rules:
      - alert: High
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.instance }} is down"}
      - record: job:up:sum
        expr: sum by (job) (up)
"#,
        )
        .unwrap();
        assert_eq!(groups[0].interval, DEFAULT_INTERVAL);
        assert_eq!(groups[0].rules.len(), 2);
        let Rule::Alerting(a) = &groups[0].rules[0] else {
            panic!()
        };
        assert_eq!(a.for_, Duration::from_secs(300));
        assert_eq!(a.keep_firing_for, Duration::from_secs(60));
    }

    #[test]
    fn queries_and_durations_that_panic_the_parser_are_errors_with_their_place() {
        let e = parse_rule_file(
            "t.yaml",
            r#"
groups:
  - name: g
    interval: 1e400
    rules:
      - alert: A
        expr: up offset +Inf
      - alert: B
        expr: rate(up[1e400])
        for: "-1"
"#,
        )
        .unwrap_err();
        let all = e.0.join("\n");
        for expected in [
            "groups[0].interval: \"1e400\" is not a duration: out of range",
            "groups[0].rules[0].expr: the query cannot be parsed: cannot convert float seconds",
            "groups[0].rules[1].expr: the query cannot be parsed",
            "groups[0].rules[1].for: \"-1\" is not a duration: out of range",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in\n{all}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let e = parse_rule_file(
            "t.yaml",
            r#"
groups:
  - name: g
    interval: 0s
    rules:
      - alert: A
        record: b
        expr: up
      - record: "not a name"
        expr: up
        for: 5m
      - alert: C
        expr: sum(
      - alert: D
        expr: up
        for: soon
        annotations: {x: "{{ $labels.a "}
  - name: g
    rules: []
"#,
        )
        .unwrap_err();
        let all = e.0.join("\n");
        for expected in [
            "groups[0].interval: must be greater than zero",
            "groups[0].rules[0]: exactly one of `alert` and `record`",
            "groups[0].rules[1].record: \"not a name\" is not a valid metric name",
            "groups[0].rules[1].for: not allowed in a recording rule",
            "groups[0].rules[2].expr:",
            "groups[0].rules[3].for: \"soon\" is not a duration",
            "groups[0].rules[3].annotations.x:",
            "groups[1].name: group \"g\" is defined twice",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in\n{all}");
        }
    }
}
