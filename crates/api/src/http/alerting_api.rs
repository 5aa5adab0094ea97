//! Tenants' rule groups (`/api/v1/alerting/...`) at three levels, like
//! KubeSphere's — namespace, workspace, cluster (cluster admins only) — and
//! `POST /-/reload`. A group is validated on write: its text, every query
//! through the PromQL enforcement for the level's namespaces, its templates.

use super::extract::Authenticated;
use crate::alerting::{level_scope, visible_workspaces, AlertingService};
use crate::error::ApiError;
use crate::state::{AppState, Caller};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
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
    let group = crate::alerting::tenant_rules::parse_group(&level, name, &body)?;
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
    let created = service.tenant.get(&level, name).is_none();
    service.tenant.put(&level, name, &body)?;
    service.apply();
    let status = if created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "name": name, "rules": group.rules.len() })),
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
