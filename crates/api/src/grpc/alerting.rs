//! `periscope.v1.Alerting`: the rules and alerts Periscope evaluates, from the
//! same filtered answers as the HTTP API.

use super::metrics::caller_of;
use crate::alerting::{alerts_data, rules_data, visible_workspaces, RuleFilter, Visibility};
use crate::error::to_status;
use crate::state::AppState;
use periscope_model::{Error, ErrorKind, Result};
use periscope_proto::v1::{
    alerting_server::Alerting, Alert, ListAlertsRequest, ListAlertsResponse, ListRulesRequest,
    ListRulesResponse, Rule, RuleGroup,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub(crate) struct AlertingService {
    pub(crate) state: Arc<AppState>,
}

#[tonic::async_trait]
impl Alerting for AlertingService {
    async fn list_rules(
        &self,
        request: Request<ListRulesRequest>,
    ) -> std::result::Result<Response<ListRulesResponse>, Status> {
        self.answer(
            &request,
            |data| ListRulesResponse {
                groups: list(&data["groups"]).iter().map(group).collect(),
            },
            Some(request.get_ref().r#type.clone()),
        )
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> std::result::Result<Response<ListAlertsResponse>, Status> {
        self.answer(
            &request,
            |data| ListAlertsResponse {
                alerts: list(&data["alerts"]).iter().map(alert).collect(),
            },
            None,
        )
    }
}

impl AlertingService {
    /// Builds the HTTP answer's `data` (rules when `rule_type` is given) and
    /// converts it.
    fn answer<T, R>(
        &self,
        request: &Request<T>,
        convert: impl FnOnce(&Value) -> R,
        rule_type: Option<String>,
    ) -> std::result::Result<Response<R>, Status> {
        let result = (|| -> Result<R> {
            let caller = caller_of(&self.state, request)?;
            let service = self.state.alerting.get().ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    "the alerting service does not run in this process",
                )
            })?;
            let status = service.engine.status();
            let visibility = Visibility {
                scope: &caller.scope,
                workspaces: visible_workspaces(&self.state, &caller.scope),
            };
            let data = match rule_type {
                Some(kind) => rules_data(
                    &status,
                    &visibility,
                    &RuleFilter {
                        kind: Some(kind),
                        ..RuleFilter::default()
                    },
                )?,
                None => alerts_data(&status, &visibility),
            };
            Ok(convert(&data))
        })();
        result.map(Response::new).map_err(to_status)
    }
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn map(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default()
}

/// RFC 3339 → Unix seconds (0 for Go's zero time).
fn seconds(v: &Value) -> f64 {
    humantime::parse_rfc3339_weak(v.as_str().unwrap_or_default())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

fn alert(v: &Value) -> Alert {
    Alert {
        labels: map(&v["labels"]),
        annotations: map(&v["annotations"]),
        state: text(&v["state"]),
        active_at: seconds(&v["activeAt"]),
        value: v["value"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN),
    }
}

fn group(v: &Value) -> RuleGroup {
    RuleGroup {
        name: text(&v["name"]),
        file: text(&v["file"]),
        interval_seconds: v["interval"].as_f64().unwrap_or_default(),
        rules: list(&v["rules"]).iter().map(rule).collect(),
        last_evaluation: seconds(&v["lastEvaluation"]),
        records: text(&v["type"]),
    }
}

fn rule(v: &Value) -> Rule {
    Rule {
        name: text(&v["name"]),
        query: text(&v["query"]),
        r#type: text(&v["type"]),
        state: text(&v["state"]),
        duration_seconds: v["duration"].as_f64().unwrap_or_default(),
        keep_firing_for_seconds: v["keepFiringFor"].as_f64().unwrap_or_default(),
        labels: map(&v["labels"]),
        annotations: map(&v["annotations"]),
        alerts: list(&v["alerts"]).iter().map(alert).collect(),
        health: text(&v["health"]),
        last_error: text(&v["lastError"]),
    }
}
