//! The alerting service inside the API: building the rule engine from
//! configuration (rules evaluated by the cluster's Prometheus), and the
//! Prometheus-shaped `/rules` and `/alerts` answers, filtered to the caller's
//! namespaces.

use crate::query::decode_query;
use periscope_alerting::{
    builtin_groups, parse_rule_file, rfc3339_ms, Alert, AlertState, Engine, EngineConfig,
    GroupStatus, Health, QueryFn, Rule, RuleGroup, RuleStatus,
};
use periscope_backend_prometheus::{Method, PrometheusClient, QueryData};
use periscope_config::Config;
use periscope_model::{Error, Result, Scope};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How long one rule query may take.
const RULE_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The rule engine `config` describes (none without an `[alerting]` section).
pub(crate) fn build_engine(config: &Config) -> Result<Option<Arc<Engine>>> {
    let Some(alerting) = &config.alerting else {
        return Ok(None);
    };
    let mut groups: Vec<RuleGroup> = if alerting.builtin_rules {
        builtin_groups()
    } else {
        Vec::new()
    };
    for path in &alerting.rule_files {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::bad_request(format!(
                "alerting.rule_files: cannot read {}: {e}",
                path.display()
            ))
        })?;
        groups.extend(
            parse_rule_file(&path.display().to_string(), &text)
                .map_err(|e| Error::bad_request(format!("alerting.rule_files: {e}")))?,
        );
    }
    let cluster = match &alerting.cluster {
        Some(name) => config.clusters.iter().find(|c| &c.name == name),
        None => config.clusters.first(),
    }
    .ok_or_else(|| Error::bad_request("alerting: no cluster to evaluate rules against"))?;
    let prometheus = PrometheusClient::new(&cluster.prometheus.url, RULE_QUERY_TIMEOUT)?;
    let external_url = alerting
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.server.http_listen));
    let engine = Engine::new(
        groups,
        EngineConfig {
            resend_delay: alerting.resend_delay,
            external_url,
            external_labels: alerting.external_labels.clone(),
            alertmanagers: alerting.alertmanagers.clone(),
            data_dir: alerting.data_dir.clone(),
        },
        query_fn(prometheus),
    )
    .map_err(|e| Error::bad_request(format!("alerting: {e}")))?;
    Ok(Some(Arc::new(engine)))
}

/// Rule queries go straight to the cluster's Prometheus: built-in and
/// operator rules are cluster-wide.
fn query_fn(prometheus: PrometheusClient) -> QueryFn {
    Arc::new(move |query: String, at_ms: i64| {
        let prometheus = prometheus.clone();
        Box::pin(async move {
            let params = vec![
                ("query".to_string(), query),
                ("time".to_string(), format!("{:.3}", at_ms as f64 / 1000.0)),
            ];
            let response = prometheus
                .send(Method::Post, "/api/v1/query", &params, None)
                .await
                .map_err(|e| e.message().to_string())?;
            let status = response.status;
            let body = response
                .bytes()
                .await
                .map_err(|e| e.message().to_string())?;
            let decoded = decode_query(status, &body).map_err(|e| e.message().to_string())?;
            let parse = |v: &str| v.parse::<f64>().unwrap_or(f64::NAN);
            match decoded.data {
                Some(QueryData::Vector(v)) => Ok(v
                    .into_iter()
                    .map(|s| (s.metric, parse(&s.value.1)))
                    .collect()),
                Some(QueryData::Scalar(p)) => Ok(vec![(BTreeMap::new(), parse(&p.1))]),
                _ => Err("rule result is not a vector or scalar".to_string()),
            }
        })
    })
}

/// Whether `scope` may see an alert (by its `namespace` label).
fn visible(scope: &Scope, alert: &Alert) -> bool {
    match scope {
        Scope::ClusterWide => true,
        Scope::Namespaces(set) => alert
            .labels
            .get("namespace")
            .is_some_and(|ns| set.contains(ns)),
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

fn rule_json(r: &RuleStatus, scope: &Scope) -> Value {
    let common = |v: &mut Value| {
        v["health"] = json!(health(r.health));
        v["lastError"] = json!(r.last_error);
        v["evaluationTime"] = json!(r.evaluation_seconds);
        v["lastEvaluation"] = json!(rfc3339_ms(r.last_evaluation));
    };
    match &r.rule {
        Rule::Alerting(a) => {
            let alerts: Vec<&Alert> = r.state.active().filter(|al| visible(scope, al)).collect();
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
    scope: &Scope,
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
                .map(|r| rule_json(r, scope))
                .collect();
            (!rules.is_empty() || want_alerting.is_none() && filter.rule_names.is_empty()).then(
                || {
                    json!({
                        "name": g.group.name,
                        "file": g.group.source,
                        "rules": rules,
                        "interval": g.group.interval.as_secs_f64(),
                        "limit": g.group.limit,
                        "evaluationTime": g.evaluation_seconds,
                        "lastEvaluation": rfc3339_ms(g.last_evaluation),
                    })
                },
            )
        })
        .collect();
    Ok(json!({ "groups": groups }))
}

/// `data` of `/api/v1/alerts`: pending and firing alerts the caller may see.
pub(crate) fn alerts_data(status: &[GroupStatus], scope: &Scope) -> Value {
    let alerts: Vec<Value> = status
        .iter()
        .flat_map(|g| &g.rules)
        .flat_map(|r| r.state.active())
        .filter(|a| visible(scope, a))
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
