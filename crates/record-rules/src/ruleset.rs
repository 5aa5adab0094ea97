//! Every installed rule of one record kind, indexed so that a record is
//! checked only against the rules it may match: each rule is filed under
//! one equality its condition requires (`reason = "BackOff"`, `Verb in
//! ("create", "update")`) on a field read without parsing the record; rules
//! with none are checked against every record. The other equalities a rule
//! requires on such fields are checked too before the record's document is
//! built (a rule of `Verb = "delete" and ObjectRef.Resource = "deployments"`
//! filed under the resource never parses a patch).

use crate::ast::{Comparison, Condition, Literal, Path, Segment};
use crate::group::{RecordGroup, RecordRule};
use crate::record::RuleRecord;
use crate::vocabulary::Dialect;
use crate::window::{Labels, Match};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Whose records a group's rules see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every record, cluster-scoped ones included (cluster level, built-in).
    All,
    /// Records of one namespace.
    Namespace(String),
    /// Records of a workspace's namespaces (resolved per batch).
    Workspace(String),
}

/// One rule as installed.
#[derive(Debug, Clone)]
pub struct InstalledRule {
    pub group: Arc<RecordGroup>,
    pub index: usize,
    pub reach: Reach,
}

impl InstalledRule {
    /// The rule.
    pub fn rule(&self) -> &RecordRule {
        &self.group.rules[self.index]
    }
}

/// What one batch's evaluation found.
#[derive(Debug, Default)]
pub struct Matches {
    pub matches: Vec<Match>,
    /// Rules whose condition could not be evaluated on a record, with why.
    pub errors: Vec<(usize, String)>,
}

/// Rules filed by the equality each requires, and those with none.
#[derive(Debug, Default)]
struct Index {
    /// Per indexed path: value → rules.
    by_field: BTreeMap<&'static str, HashMap<String, Vec<usize>>>,
    /// Rules checked against every record this index covers.
    always: Vec<usize>,
}

impl Index {
    /// Adds the rules `record` may match to `out`.
    fn candidates<R: RuleRecord>(&self, record: &R, out: &mut Vec<usize>) {
        for (path, by_value) in &self.by_field {
            if let Some(rules) = record.quick(path).and_then(|v| by_value.get(v)) {
                out.extend_from_slice(rules);
            }
        }
        out.extend_from_slice(&self.always);
    }
}

/// The rules of one record kind and their index: one for rules that reach
/// every namespace (cluster level, built-in, workspaces), one per namespace
/// for namespaces' rules, so a tenant's rules cost nothing for others' records.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<InstalledRule>,
    /// Per rule: every equality on a quick field its condition requires,
    /// checked before the record's document is built.
    prefilters: Vec<Vec<(&'static str, Vec<String>)>>,
    everywhere: Index,
    by_namespace: HashMap<String, Index>,
}

/// The equalities a condition requires, as (path text, values).
fn required(condition: &Condition, out: &mut Vec<(String, Vec<String>)>) {
    let text_path = |p: &Path| -> Option<String> {
        let mut s = String::new();
        for seg in &p.0 {
            match seg {
                Segment::Key(k) if !k.contains('.') => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                _ => return None,
            }
        }
        Some(s)
    };
    match condition {
        Condition::And(a, b) => {
            required(a, out);
            required(b, out);
        }
        Condition::Compare(p, Comparison::Eq, Literal::Text(t)) => {
            if let Some(p) = text_path(p) {
                out.push((p, vec![t.clone()]));
            }
        }
        Condition::In(p, false, list) if list.iter().all(|l| matches!(l, Literal::Text(_))) => {
            if let Some(p) = text_path(p) {
                let values = list
                    .iter()
                    .filter_map(|l| match l {
                        Literal::Text(t) => Some(t.clone()),
                        _ => None,
                    })
                    .collect();
                out.push((p, values));
            }
        }
        _ => {}
    }
}

impl RuleSet {
    /// Indexes `rules` for records of type `R`.
    pub fn new<R: RuleRecord>(rules: Vec<InstalledRule>) -> Self {
        // Each rule's usable equalities; a path with more distinct values
        // across the rules splits them better, so it is preferred.
        let options: Vec<Vec<(String, Vec<String>)>> = rules
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                required(&r.rule().condition, &mut out);
                out.retain(|(p, _)| R::QUICK.contains(&p.as_str()));
                out
            })
            .collect();
        let mut distinct: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
        for (p, values) in options.iter().flatten() {
            distinct
                .entry(p)
                .or_default()
                .extend(values.iter().map(String::as_str));
        }
        let prefilters = options
            .iter()
            .map(|opts| {
                opts.iter()
                    .filter_map(|(p, v)| Some((*R::QUICK.iter().find(|q| **q == p)?, v.clone())))
                    .collect()
            })
            .collect();
        let mut everywhere = Index::default();
        let mut by_namespace: HashMap<String, Index> = HashMap::new();
        for (i, opts) in options.iter().enumerate() {
            let index = match &rules[i].reach {
                Reach::Namespace(ns) => by_namespace.entry(ns.clone()).or_default(),
                Reach::All | Reach::Workspace(_) => &mut everywhere,
            };
            let best = opts
                .iter()
                .max_by_key(|(p, _)| distinct.get(p.as_str()).map_or(0, |d| d.len()));
            match best.and_then(|(p, v)| Some((*R::QUICK.iter().find(|q| **q == p)?, v))) {
                Some((path, values)) => {
                    let by_value = index.by_field.entry(path).or_default();
                    for v in values {
                        let list = by_value.entry(v.clone()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => index.always.push(i),
            }
        }
        Self {
            rules,
            prefilters,
            everywhere,
            by_namespace,
        }
    }

    /// The installed rules, in the order [`Match::rule`] refers to.
    pub fn rules(&self) -> &[InstalledRule] {
        &self.rules
    }

    /// Rules filed under an equality, and rules checked against every
    /// record they reach.
    pub fn index_sizes(&self) -> (usize, usize) {
        let always = self.everywhere.always.len()
            + self
                .by_namespace
                .values()
                .map(|i| i.always.len())
                .sum::<usize>();
        (self.rules.len() - always, always)
    }

    /// Evaluates `records` against the rules that reach them (`in_workspace`
    /// says whether a namespace belongs to a workspace).
    pub fn evaluate<R: RuleRecord>(
        &self,
        records: &[R],
        in_workspace: &dyn Fn(&str, &str) -> bool,
    ) -> Matches {
        let mut out = Matches::default();
        let mut candidates = Vec::new();
        for record in records {
            candidates.clear();
            let namespace = record.scope_namespace();
            self.everywhere.candidates(record, &mut candidates);
            if let Some(index) = self.by_namespace.get(namespace) {
                index.candidates(record, &mut candidates);
            }
            if candidates.is_empty() {
                continue;
            }
            let mut document = None;
            let mut object_labels = None;
            for &i in &candidates {
                let installed = &self.rules[i];
                let rule = installed.rule();
                let reached = match &installed.reach {
                    Reach::All => true,
                    Reach::Namespace(ns) => !namespace.is_empty() && namespace == ns,
                    Reach::Workspace(ws) => !namespace.is_empty() && in_workspace(ws, namespace),
                };
                let required = self.prefilters[i].iter().all(|(path, values)| {
                    let value = record.quick(path).unwrap_or_default();
                    values.iter().any(|v| v == value)
                });
                if !rule.enabled || !reached || !required {
                    continue;
                }
                let document = document.get_or_insert_with(|| record.document());
                let dialect: Dialect = installed.group.dialect;
                match rule.condition.matches_in(document, dialect) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        out.errors.push((i, e));
                        continue;
                    }
                }
                let object = object_labels.get_or_insert_with(|| record.object_labels());
                out.matches.push(Match {
                    rule: i,
                    labels: alert_labels(rule, object, document),
                    time_ns: record.time_ns(),
                    identity: record.identity(),
                    fields: rule
                        .annotations
                        .values()
                        .flat_map(|a| a.values(document))
                        .collect(),
                });
            }
        }
        out
    }
}

/// The record's object labels and the rule's (filled), narrowed to the
/// threshold's `by` (with `alerttype` always kept).
fn alert_labels(rule: &RecordRule, object: &Labels, document: &serde_json::Value) -> Labels {
    let mut labels = object.clone();
    for (k, v) in &rule.labels {
        labels.insert(k.clone(), v.fill(&v.values(document)));
    }
    if let Some(by) = &rule.threshold.by {
        labels.retain(|k, _| k == "alerttype" || by.iter().any(|b| b == k));
    }
    labels
}
