//! Prometheus' `/api/v1/rules` and `/api/v1/alerts` answers built from the
//! engine's state, filtered to what the caller may see.

use periscope_alerting::{rfc3339_ms, Alert, AlertState, GroupStatus, Health, Rule, RuleStatus};
use periscope_model::{Error, Result, Scope};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What a caller may see: alerts of its namespaces or of its workspaces'
/// groups, and the groups of its levels.
pub(crate) struct Visibility<'a> {
    pub scope: &'a Scope,
    /// Workspaces whose every namespace is in scope.
    pub workspaces: BTreeSet<String>,
}

impl Visibility<'_> {
    fn alert(&self, alert: &Alert) -> bool {
        match self.scope {
            Scope::ClusterWide => true,
            Scope::Namespaces(set) => {
                alert
                    .labels
                    .get("namespace")
                    .is_some_and(|ns| set.contains(ns))
                    || alert
                        .labels
                        .get("workspace")
                        .is_some_and(|ws| self.workspaces.contains(ws))
            }
        }
    }

    /// Built-in and operator groups are visible to everyone (with their alerts
    /// filtered); a tenant's group to the tenants of its level.
    pub fn group(&self, group: &periscope_alerting::RuleGroup) -> bool {
        use periscope_alerting::TenantLevel;
        match (&group.tenant, self.scope) {
            (_, Scope::ClusterWide) | (None, _) => true,
            (Some(TenantLevel::Namespace(ns)), Scope::Namespaces(set)) => set.contains(ns),
            (Some(TenantLevel::Workspace(ws)), _) => self.workspaces.contains(ws),
            (Some(TenantLevel::Cluster), _) => false,
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as Prometheus writes alert values.
fn go_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339_ms(a.active_at),
        "value": go_e(a.value),
    });
    if a.keep_firing_since != 0 {
        v["keepFiringSince"] = json!(rfc3339_ms(a.keep_firing_since));
    }
    v
}

fn health(h: Health) -> &'static str {
    match h {
        Health::Unknown => "unknown",
        Health::Ok => "ok",
        Health::Err => "err",
    }
}

fn rule_json(r: &RuleStatus, visibility: &Visibility<'_>) -> Value {
    let common = |v: &mut Value| {
        v["health"] = json!(health(r.health));
        v["lastError"] = json!(r.last_error);
        v["evaluationTime"] = json!(r.evaluation_seconds);
        v["lastEvaluation"] = json!(rfc3339_ms(r.last_evaluation));
    };
    match &r.rule {
        Rule::Alerting(a) => {
            let alerts: Vec<&Alert> = r.state.active().filter(|al| visibility.alert(al)).collect();
            let state = alerts
                .iter()
                .map(|al| al.state)
                .max_by_key(|s| match s {
                    AlertState::Firing => 2,
                    AlertState::Pending => 1,
                    AlertState::Inactive => 0,
                })
                .unwrap_or(AlertState::Inactive);
            let templates = |m: &BTreeMap<String, periscope_alerting::Template>| {
                m.iter()
                    .map(|(k, t)| (k.clone(), t.to_string()))
                    .collect::<BTreeMap<_, _>>()
            };
            let mut v = json!({
                "state": state.as_str(),
                "name": a.name,
                "query": a.expr,
                "duration": a.for_.as_secs_f64(),
                "keepFiringFor": a.keep_firing_for.as_secs_f64(),
                "labels": templates(&a.labels),
                "annotations": templates(&a.annotations),
                "alerts": alerts.iter().map(|al| alert_json(al)).collect::<Vec<_>>(),
                "type": "alerting",
            });
            common(&mut v);
            v
        }
        Rule::Recording(rec) => {
            let mut v = json!({
                "name": rec.record,
                "query": rec.expr,
                "labels": rec.labels,
                "type": "recording",
            });
            common(&mut v);
            v
        }
    }
}

/// Filters of `/api/v1/rules`.
#[derive(Default)]
pub(crate) struct RuleFilter {
    /// `alert` or `record`.
    pub kind: Option<String>,
    pub rule_names: Vec<String>,
    pub groups: Vec<String>,
    pub files: Vec<String>,
}

/// `data` of `/api/v1/rules`, Prometheus' shape.
pub(crate) fn rules_data(
    status: &[GroupStatus],
    visibility: &Visibility<'_>,
    filter: &RuleFilter,
) -> Result<Value> {
    let want_alerting = match filter.kind.as_deref() {
        None | Some("") => None,
        Some("alert") => Some(true),
        Some("record") => Some(false),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "invalid parameter \"type\": {other:?} is not alert or record"
            )))
        }
    };
    let groups: Vec<Value> = status
        .iter()
        .filter(|g| visibility.group(&g.group))
        .filter(|g| filter.groups.is_empty() || filter.groups.contains(&g.group.name))
        .filter(|g| filter.files.is_empty() || filter.files.contains(&g.group.source))
        .filter_map(|g| {
            let rules: Vec<Value> = g
                .rules
                .iter()
                .filter(|r| want_alerting.is_none_or(|a| a == matches!(r.rule, Rule::Alerting(_))))
                .filter(|r| {
                    filter.rule_names.is_empty()
                        || filter.rule_names.iter().any(|n| n == r.rule.name())
                })
                .map(|r| rule_json(r, visibility))
                .collect();
            (!rules.is_empty() || want_alerting.is_none() && filter.rule_names.is_empty()).then(
                || {
                    let mut group = json!({
                        "name": g.group.name,
                        "file": g.group.source,
                        "rules": rules,
                        "interval": g.group.interval.as_secs_f64(),
                        "limit": g.group.limit,
                        "evaluationTime": g.evaluation_seconds,
                        "lastEvaluation": rfc3339_ms(g.last_evaluation),
                    });
                    // Event and audit groups say which records they are over.
                    if let Some(records) = &g.group.records {
                        group["type"] = json!(records.kind.as_str());
                    }
                    group
                },
            )
        })
        .collect();
    Ok(json!({ "groups": groups }))
}

/// `data` of `/api/v1/alerts`: pending and firing alerts the caller may see.
pub(crate) fn alerts_data(status: &[GroupStatus], visibility: &Visibility<'_>) -> Value {
    let alerts: Vec<Value> = status
        .iter()
        .filter(|g| visibility.group(&g.group))
        .flat_map(|g| &g.rules)
        .flat_map(|r| r.state.active())
        .filter(|a| visibility.alert(a))
        .map(alert_json)
        .collect();
    json!({ "alerts": alerts })
}

#[cfg(test)]
mod tests {
    use super::go_e;

    #[test]
    fn alert_values_are_written_like_go() {
        assert_eq!(go_e(1.0), "1e+00");
        assert_eq!(go_e(0.25), "2.5e-01");
        assert_eq!(go_e(12345.0), "1.2345e+04");
    }
}
