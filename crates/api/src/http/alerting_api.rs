//! Tenants' rule groups (`/api/v1/alerting/...`) at three levels, like
//! KubeSphere's — namespace, workspace, cluster (cluster admins only) — and
//! `POST /-/reload`. A group is validated on write: its text, every query
//! through the PromQL enforcement for the level's namespaces, its templates.
//! Tenants also register webhook receivers for their namespaces' alerts and
//! read the history of notifications about them.

use super::extract::Authenticated;
use crate::alerting::{level_scope, visible_workspaces, AlertingService};
use crate::error::ApiError;
use crate::state::{AppState, Caller};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use periscope_alerting::tenant::TenantGroup;
use periscope_alerting::TenantLevel;
use periscope_model::{Error, ErrorKind, Result, Scope};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

type Handled = std::result::Result<Response, ApiError>;

/// The routes, relative to the root.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    let group = || {
        get(get_group)
            .put(put_group)
            .delete(delete_group)
            .fallback(super::method_not_allowed)
    };
    Router::new()
        .route("/api/v1/alerting/groups", get(list_groups))
        .route("/api/v1/alerting/namespaces/{owner}/groups/{name}", group())
        .route("/api/v1/alerting/workspaces/{owner}/groups/{name}", group())
        .route("/api/v1/alerting/cluster/groups/{name}", group())
        .route("/api/v1/alerting/receivers", get(list_receivers))
        .route(
            "/api/v1/alerting/namespaces/{owner}/receivers/{name}",
            get(get_receiver)
                .put(put_receiver)
                .delete(delete_receiver)
                .fallback(super::method_not_allowed),
        )
        .route("/api/v1/alerting/notifications", get(notifications))
        .route(
            "/alertmanager/api/v2/silences",
            get(list_silences)
                .post(post_silence)
                .fallback(super::method_not_allowed),
        )
        .route(
            "/alertmanager/api/v2/silence/{id}",
            get(get_silence)
                .delete(delete_silence)
                .fallback(super::method_not_allowed),
        )
        .route(
            "/-/reload",
            post(reload).fallback(super::method_not_allowed),
        )
}

fn service(state: &AppState) -> Result<&AlertingService> {
    state.alerting.get().ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            "the alerting service does not run in this process",
        )
    })
}

/// The level a path names, checked against the caller's scope.
fn level(
    state: &AppState,
    caller: &Caller,
    uri: &axum::http::Uri,
    path: &HashMap<String, String>,
) -> Result<TenantLevel> {
    let owner = path.get("owner").cloned().unwrap_or_default();
    let level = if uri.path().starts_with("/api/v1/alerting/namespaces/") {
        TenantLevel::Namespace(owner)
    } else if uri.path().starts_with("/api/v1/alerting/workspaces/") {
        TenantLevel::Workspace(owner)
    } else {
        TenantLevel::Cluster
    };
    let allowed = match (&level, &caller.scope) {
        (TenantLevel::Namespace(_) | TenantLevel::Cluster, Scope::ClusterWide) => true,
        (TenantLevel::Namespace(ns), Scope::Namespaces(set)) => set.contains(ns),
        (TenantLevel::Workspace(ws), scope) => {
            let visible = visible_workspaces(state, scope).contains(ws);
            if !visible && matches!(scope, Scope::ClusterWide) {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no such workspace {ws:?}"),
                ));
            }
            visible
        }
        (TenantLevel::Cluster, Scope::Namespaces(_)) => false,
    };
    if !allowed {
        return Err(Error::forbidden("this rule level is not in your scope"));
    }
    Ok(level)
}

async fn list_groups(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
) -> Handled {
    let service = service(&state)?;
    let workspaces = visible_workspaces(&state, &caller.scope);
    let groups: Vec<_> = service
        .tenant
        .list()
        .into_iter()
        .filter(|(level, _)| match (level, &caller.scope) {
            (_, Scope::ClusterWide) => true,
            (TenantLevel::Namespace(ns), Scope::Namespaces(set)) => set.contains(ns),
            (TenantLevel::Workspace(ws), _) => workspaces.contains(ws),
            (TenantLevel::Cluster, _) => false,
        })
        .map(|(_, info)| info)
        .collect();
    Ok(Json(json!({ "groups": groups })).into_response())
}

async fn get_group(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    uri: axum::http::Uri,
    Path(path): Path<HashMap<String, String>>,
) -> Handled {
    let service = service(&state)?;
    let level = level(&state, &caller, &uri, &path)?;
    let name = &path["name"];
    let text = service
        .tenant
        .get(&level, name)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no rule group {name:?} here")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        text,
    )
        .into_response())
}

async fn put_group(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    uri: axum::http::Uri,
    Path(path): Path<HashMap<String, String>>,
    body: String,
) -> Handled {
    let service = service(&state)?;
    let level = level(&state, &caller, &uri, &path)?;
    let name = &path["name"];
    let limits = &caller.principal.limits;
    let group = periscope_alerting::tenant::validate_tenant_group(&level, name, &body, limits)?;
    match &group {
        TenantGroup::Metric(group) => {
            // Every query must pass the enforcement for the level's namespaces.
            let scope = level_scope(&state, &level)?;
            for rule in &group.rules {
                state
                    .enforcer
                    .enforce_query(rule.expr(), &scope, &caller.principal.limits)
                    .map_err(|e| {
                        Error::new(e.kind(), format!("rule {:?}: {}", rule.name(), e.message()))
                    })?;
            }
        }
        // Event and audit rules see only the level's records, whatever
        // their conditions say; their templates must compile.
        TenantGroup::Records(group) => {
            periscope_alerting::records::check_templates(group).map_err(Error::bad_request)?;
        }
    }
    let created = service
        .tenant
        .put(&level, name, &body, &caller.principal.name, limits)?;
    service.apply();
    let status = if created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "name": name, "type": group.kind(), "rules": group.rule_count() })),
    )
        .into_response())
}

async fn delete_group(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    uri: axum::http::Uri,
    Path(path): Path<HashMap<String, String>>,
) -> Handled {
    let service = service(&state)?;
    let level = level(&state, &caller, &uri, &path)?;
    service.tenant.delete(&level, &path["name"])?;
    service.apply();
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

async fn reload(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
) -> Handled {
    if !caller.scope.is_cluster_wide() {
        return Err(Error::forbidden("reloading needs cluster-wide access").into());
    }
    service(&state)?.reload()?;
    Ok(Json(json!({ "status": "success" })).into_response())
}

fn namespace_in_scope(caller: &Caller, namespace: &str) -> Result<()> {
    match &caller.scope {
        Scope::ClusterWide => Ok(()),
        Scope::Namespaces(set) if set.contains(namespace) => Ok(()),
        Scope::Namespaces(_) => Err(Error::forbidden(format!(
            "namespace {namespace:?} is not in your scope"
        ))),
    }
}

async fn list_receivers(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
) -> Handled {
    let receivers: Vec<_> = service(&state)?
        .receivers
        .list()
        .into_iter()
        .filter(|r| namespace_in_scope(&caller, &r.namespace).is_ok())
        .collect();
    Ok(Json(json!({ "receivers": receivers })).into_response())
}

async fn get_receiver(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path((namespace, name)): Path<(String, String)>,
) -> Handled {
    namespace_in_scope(&caller, &namespace)?;
    let receiver = service(&state)?
        .receivers
        .list()
        .into_iter()
        .find(|r| r.namespace == namespace && r.name == name)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no receiver {name:?} here")))?;
    Ok(Json(receiver).into_response())
}

async fn put_receiver(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path((namespace, name)): Path<(String, String)>,
    body: String,
) -> Handled {
    namespace_in_scope(&caller, &namespace)?;
    let service = service(&state)?;
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !valid_name {
        return Err(Error::bad_request(format!(
            "invalid receiver name {name:?}: 1 to 64 letters, digits, '-' or '_'"
        ))
        .into());
    }
    let limits = &caller.principal.limits;
    within_bytes(
        "receiver",
        &body,
        limits.max_receiver_bytes,
        "max_receiver_bytes",
    )?;
    let webhook: periscope_alerting::notify::Webhook = serde_json::from_str(&body)
        .map_err(|e| Error::bad_request(format!("invalid receiver: {e}")))?;
    let url_ok = webhook
        .url
        .strip_prefix("http://")
        .or_else(|| webhook.url.strip_prefix("https://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !url_ok {
        return Err(Error::bad_request(format!(
            "invalid receiver url {:?}: an http:// or https:// URL with a host",
            webhook.url
        ))
        .into());
    }
    let created = service.receivers.put(
        periscope_alerting::notify::TenantReceiver {
            namespace,
            name,
            webhook,
        },
        limits,
    )?;
    service
        .dispatcher
        .set_tenant_receivers(service.receivers.list());
    let status = if created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok(status.into_response())
}

async fn delete_receiver(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path((namespace, name)): Path<(String, String)>,
) -> Handled {
    namespace_in_scope(&caller, &namespace)?;
    let service = service(&state)?;
    service.receivers.delete(&namespace, &name)?;
    service
        .dispatcher
        .set_tenant_receivers(service.receivers.list());
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// What was sent, when, to whom, and how it went: the notifications about
/// the caller's namespaces (or to its receivers), newest last, and those
/// still waiting for delivery.
async fn notifications(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
) -> Handled {
    let service = service(&state)?;
    let visible = |owner: &Option<String>, namespaces: &[String]| match &caller.scope {
        Scope::ClusterWide => true,
        Scope::Namespaces(set) => {
            owner.as_ref().is_some_and(|o| set.contains(o))
                || (!namespaces.is_empty() && namespaces.iter().all(|n| set.contains(n)))
        }
    };
    let history: Vec<_> = service
        .outbox
        .history()
        .into_iter()
        .filter(|a| visible(&a.owner, &a.namespaces))
        .collect();
    let pending: Vec<_> = service
        .outbox
        .pending()
        .into_iter()
        .filter(|p| visible(&p.owner, &p.namespaces))
        .map(|p| {
            json!({
                "id": p.id,
                "receiver": p.receiver,
                "url": p.url,
                "group_key": p.group_key,
                "created": p.created,
                "attempts": p.attempts,
            })
        })
        .collect();
    Ok(Json(json!({ "notifications": history, "pending": pending })).into_response())
}

/// A silence in Alertmanager's v2 shape.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: String,
    matchers: Vec<periscope_alerting::notify::SilenceMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn parse_time(field: &str, text: &str) -> Result<i64> {
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| {
            Error::bad_request(format!("invalid {field}: {text:?} is not an RFC 3339 time"))
        })
}

/// Tenants may silence only their namespaces' alerts: a silence must match
/// `namespace` exactly against one of them.
fn may_silence(caller: &Caller, silence: &periscope_alerting::notify::Silence) -> bool {
    match &caller.scope {
        Scope::ClusterWide => true,
        Scope::Namespaces(set) => silence.namespace().is_some_and(|ns| set.contains(ns)),
    }
}

/// Refuses (413) a body over a per-principal byte limit, naming the limit.
fn within_bytes(what: &str, body: &str, max: usize, limit: &str) -> Result<()> {
    if body.len() > max {
        return Err(Error::too_large(format!(
            "the {what} is {} bytes, more than the {max} allowed (limit {limit})",
            body.len()
        )));
    }
    Ok(())
}

fn gettable(s: &periscope_alerting::notify::Silence, now: i64) -> serde_json::Value {
    use periscope_alerting::notify::go_time;
    json!({
        "id": s.id,
        "status": { "state": s.state(now) },
        "updatedAt": go_time(s.updated_at),
        "matchers": s.matchers,
        "startsAt": go_time(s.starts_at),
        "endsAt": go_time(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

async fn list_silences(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
) -> Handled {
    let now = unix_ms_now();
    let list: Vec<_> = service(&state)?
        .silences
        .list()
        .iter()
        .filter(|s| may_silence(&caller, s))
        .map(|s| gettable(s, now))
        .collect();
    Ok(Json(list).into_response())
}

async fn get_silence(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Handled {
    let silence = service(&state)?
        .silences
        .get(&id)
        .filter(|s| may_silence(&caller, s))
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no silence {id:?}")))?;
    Ok(Json(gettable(&silence, unix_ms_now())).into_response())
}

async fn post_silence(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    body: String,
) -> Handled {
    let service = service(&state)?;
    let limits = &caller.principal.limits;
    within_bytes(
        "silence",
        &body,
        limits.max_silence_bytes,
        "max_silence_bytes",
    )?;
    let posted: PostableSilence = serde_json::from_str(&body)
        .map_err(|e| Error::bad_request(format!("invalid silence: {e}")))?;
    let now = unix_ms_now();
    let silence = periscope_alerting::notify::Silence {
        id: posted.id,
        matchers: posted.matchers,
        starts_at: parse_time("startsAt", &posted.starts_at)?,
        ends_at: parse_time("endsAt", &posted.ends_at)?,
        created_by: posted.created_by,
        comment: posted.comment,
        updated_at: now,
    };
    if !may_silence(&caller, &silence) {
        return Err(Error::forbidden(
            "a silence must match namespace=\"<one of your namespaces>\"",
        )
        .into());
    }
    if !silence.id.is_empty() {
        let existing = service.silences.get(&silence.id).ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no silence {:?}", silence.id))
        })?;
        if !may_silence(&caller, &existing) {
            return Err(Error::forbidden("that silence is not yours to change").into());
        }
    }
    let namespace = silence.namespace().unwrap_or_default().to_string();
    let id = service.silences.put(silence, now, limits.max_silences)?;
    let written = super::own_writes::WrittenObject {
        namespace,
        name: id.clone(),
    };
    Ok((axum::Extension(written), Json(json!({ "silenceID": id }))).into_response())
}

async fn delete_silence(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Handled {
    let service = service(&state)?;
    let Some(silence) = service
        .silences
        .get(&id)
        .filter(|s| may_silence(&caller, s))
    else {
        return Err(Error::new(ErrorKind::NotFound, format!("no silence {id:?}")).into());
    };
    service
        .silences
        .expire(&id, unix_ms_now())
        .map_err(Error::internal)?;
    let written = super::own_writes::WrittenObject {
        namespace: silence.namespace().unwrap_or_default().to_string(),
        name: id,
    };
    Ok((axum::Extension(written), axum::http::StatusCode::OK).into_response())
}
