//! Periscope's own write operations recorded as audit records: every
//! `POST`, `PUT`, `PATCH` and `DELETE` of the alerting API (rule groups,
//! receivers, silences, reload), with the principal, the object and the
//! status answered, in the default cluster's audit store.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use periscope_audit::own::OwnWrite;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The object a write was about, when only the handler knows it (a
/// silence's namespace and id); set as a response extension.
#[derive(Debug, Clone, Default)]
pub(crate) struct WrittenObject {
    pub namespace: String,
    pub name: String,
}

/// Records the write, once answered, when the audit service runs here.
pub(crate) async fn record(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let verb = match *request.method() {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => return next.run(request).await,
    };
    let backend = match state.audit_backend(None) {
        Ok(b) if state.config.audit.record_own_writes => Arc::clone(b),
        _ => return next.run(request).await,
    };
    let received = periscope_store::unix_now_ns();
    // Read before the request moves on (a body is not shared across awaits).
    let (user, user_agent, source_ip) = {
        let header_text = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let user = state
            .auth
            .authenticate(header_text(header::AUTHORIZATION).as_deref())
            .map_or_else(|_| "system:anonymous".to_string(), |p| p.name.clone());
        let source_ip = header_text(header::HeaderName::from_static("x-forwarded-for"))
            .and_then(|v| v.split(',').next().map(|s| s.trim().to_string()))
            .unwrap_or_default();
        (
            user,
            header_text(header::USER_AGENT).unwrap_or_default(),
            source_ip,
        )
    };
    let request_uri = request.uri().to_string();
    let (resource, namespace, workspace, name) = object_of(request.uri().path());
    let response = next.run(request).await;
    let written = response.extensions().get::<WrittenObject>().cloned();
    let (namespace, name) = match written {
        Some(w) => (w.namespace, w.name),
        None => (namespace, name),
    };
    let write = OwnWrite {
        id: audit_id(),
        user,
        verb: verb.into(),
        resource: resource.into(),
        namespace,
        name,
        workspace,
        request_uri,
        source_ip,
        user_agent,
        code: response.status().as_u16(),
        received,
        completed: periscope_store::unix_now_ns(),
    };
    let record = write.record(&state.default_cluster);
    if let Err(e) = state.store_audit(&*backend, vec![record]).await {
        tracing::warn!(error = %e, user = %write.user, verb, uri = %write.request_uri, "could not record Periscope's own write in the audit store");
    }
    response
}

/// The resource, namespace, workspace and name a write's path names.
fn object_of(path: &str) -> (&'static str, String, String, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let s = |i: usize| parts.get(i).map_or_else(String::new, |p| p.to_string());
    match parts.as_slice() {
        ["api", "v1", "alerting", "namespaces", _, "groups", _] => {
            ("rulegroups", s(4), String::new(), s(6))
        }
        ["api", "v1", "alerting", "workspaces", _, "groups", _] => {
            ("rulegroups", String::new(), s(4), s(6))
        }
        ["api", "v1", "alerting", "cluster", "groups", _] => {
            ("rulegroups", String::new(), String::new(), s(5))
        }
        ["api", "v1", "alerting", "namespaces", _, "receivers", _] => {
            ("receivers", s(4), String::new(), s(6))
        }
        ["alertmanager", "api", "v2", "silence", _] => {
            ("silences", String::new(), String::new(), s(4))
        }
        ["alertmanager", "api", "v2", "silences"] => {
            ("silences", String::new(), String::new(), String::new())
        }
        ["-", "reload"] => (
            "configuration",
            String::new(),
            String::new(),
            "reload".into(),
        ),
        _ => ("unknown", String::new(), String::new(), path.to_string()),
    }
}

/// A unique id for a recorded write.
fn audit_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| periscope_store::unix_now_ns() as u64);
    format!(
        "periscope-{start:x}-{:x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::object_of;

    #[test]
    fn paths_name_their_objects() {
        assert_eq!(
            object_of("/api/v1/alerting/namespaces/team-a/groups/slo"),
            ("rulegroups", "team-a".into(), String::new(), "slo".into())
        );
        assert_eq!(
            object_of("/api/v1/alerting/workspaces/ws-a/groups/g").2,
            "ws-a"
        );
        assert_eq!(
            object_of("/api/v1/alerting/namespaces/team-a/receivers/hook").0,
            "receivers"
        );
        assert_eq!(object_of("/alertmanager/api/v2/silence/abc").3, "abc");
        assert_eq!(object_of("/-/reload").0, "configuration");
    }
}
