//! The contract between the service-graph series Periscope generates from spans
//! and the PromQL enforcement that scopes them.
//!
//! An edge `a@A → b@B` between two namespaces is written three times, and the
//! matchers below let every caller see exactly one of the copies:
//!
//! | series | labels | visible to |
//! |---|---|---|
//! | full | `namespace=A`, `server_namespace=B` | scopes holding A and B, cluster admins |
//! | client half | `namespace=A`, `server="(outside your scope)"`, `opaque_peer=token(B)` | scopes holding A but not B |
//! | server half | `namespace=B`, `client="(outside your scope)"`, `opaque_peer=token(A)` | scopes holding B but not A |
//!
//! Edges within one namespace, and edges to databases and virtual peers, are
//! one series owned by that namespace. Label injection only ANDs matchers, so
//! "the peer is *not* in scope" is expressed as `opaque_peer!~"^(tokens of
//! the scope)$"`; the token is a keyed hash, so the client half names nothing
//! of the other tenant (not even its namespace). Every selector that may match
//! service-graph series gets, for a scope S:
//! `server_namespace=~"^(S)?$", opaque_peer!~"^(token(S))$"`; cluster-wide
//! callers get `opaque_peer=""` (the full copies only).

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};

/// Metric-name prefix of every service-graph series.
pub const METRIC_PREFIX: &str = "traces_service_graph_";
/// Namespace of the span on the server side of an edge.
pub const SERVER_NAMESPACE_LABEL: &str = "server_namespace";
/// Namespace of the span on the client side of an edge.
pub const CLIENT_NAMESPACE_LABEL: &str = "client_namespace";
/// On a half edge: the token of the namespace at its opaque end.
pub const OPAQUE_PEER_LABEL: &str = "opaque_peer";

/// The secret behind opaque-peer tokens. The span-metrics generator and the
/// enforcer must share it (configure `span_metrics.peer_key` when several
/// Periscope processes write or read the same Prometheus).
#[derive(Clone)]
pub struct PeerKey([u8; 32]);

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerKey(..)")
    }
}

impl PeerKey {
    /// A key derived from a configured secret.
    pub fn from_secret(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// A key for this process only.
    pub fn random() -> Self {
        Self::from_secret(&Self::random_secret())
    }

    /// A fresh secret (64 hex digits) from the OS-seeded hasher keys, to keep
    /// in a file for [`PeerKey::from_secret`].
    pub fn random_secret() -> String {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(i);
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
        hex::encode(Sha256::digest(bytes))
    }

    /// The token standing for `namespace` at the opaque end of a half edge
    /// (32 hex digits; an empty namespace has one too).
    pub fn token(&self, namespace: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update([0]);
        hasher.update(namespace.as_bytes());
        hex::encode(&hasher.finalize()[..16])
    }

    /// `^(t1|t2)$` for the tokens of `namespaces` (hex needs no escaping).
    pub fn tokens_regex(&self, namespaces: &BTreeSet<String>) -> String {
        let tokens: Vec<String> = namespaces.iter().map(|ns| self.token(ns)).collect();
        format!("^({})$", tokens.join("|"))
    }
}

/// The opaque-peer tokens of one scope, hashed at most once however many
/// selectors of a query (and its verification) need them.
pub(crate) struct ScopeTokens<'a> {
    key: &'a PeerKey,
    namespaces: &'a BTreeSet<String>,
    regex: std::cell::OnceCell<String>,
}

impl<'a> ScopeTokens<'a> {
    pub(crate) fn new(key: &'a PeerKey, namespaces: &'a BTreeSet<String>) -> Self {
        Self {
            key,
            namespaces,
            regex: std::cell::OnceCell::new(),
        }
    }

    /// [`PeerKey::tokens_regex`] of the scope.
    pub(crate) fn regex(&self) -> &str {
        self.regex
            .get_or_init(|| self.key.tokens_regex(self.namespaces))
    }
}

/// Whether series of `metric` (the one name a selector names, if any) may be
/// service-graph series.
pub fn may_be_edges(metric: Option<&str>) -> bool {
    metric.is_none_or(|name| name.starts_with(METRIC_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_the_key_and_the_namespace() {
        let key = PeerKey::from_secret("s");
        assert_eq!(key.token("a"), PeerKey::from_secret("s").token("a"));
        assert_ne!(key.token("a"), key.token("b"));
        assert_ne!(key.token("a"), PeerKey::from_secret("t").token("a"));
        assert_ne!(PeerKey::random().token("a"), PeerKey::random().token("a"));
        assert_eq!(key.token("a").len(), 32);
    }

    #[test]
    fn only_unnamed_or_service_graph_selectors_may_match_edges() {
        assert!(may_be_edges(None));
        assert!(may_be_edges(Some("traces_service_graph_request_total")));
        assert!(!may_be_edges(Some("traces_spanmetrics_calls_total")));
        assert!(!may_be_edges(Some("up")));
    }
}
