//! Memoisation for the expensive part of enforcement: compiling regexes (the
//! scope matcher, and every `=~` the parser meets when the rewritten query is
//! parsed again for verification). Dashboards resend the same query texts on
//! every refresh, so caching the outcome per (query, scope, limits) removes that
//! cost from the steady state without changing any decision.

use periscope_config::Limits;
use periscope_model::{Result, Scope};
use regex::Regex;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Most bytes of query text (keys and values) kept before the cache is cleared.
const MAX_CACHED_BYTES: usize = 16 << 20;
/// Most compiled scope matchers kept before that cache is cleared.
const MAX_SCOPE_REGEXES: usize = 1024;

/// Everything an enforcement decision depends on besides the (fixed) configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DecisionKey {
    query: String,
    scope: Option<SharedScope>,
    max_range_ms: u128,
    max_subquery_points: u64,
}

/// A namespace set compared by identity, so a lookup costs O(1) however many
/// namespaces it holds. Sound because the set is immutable and the key keeps it
/// alive: while an entry exists, no other set can have its address. The scope
/// resolver hands out the same shared set for a principal until membership
/// changes, so identity is stable exactly as long as the content is.
#[derive(Debug, Clone)]
struct SharedScope(Arc<BTreeSet<String>>);

impl PartialEq for SharedScope {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedScope {}

impl Hash for SharedScope {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0), state)
    }
}

impl DecisionKey {
    pub(crate) fn new(query: &str, scope: &Scope, limits: &Limits) -> Self {
        Self {
            query: query.to_string(),
            scope: match scope {
                Scope::ClusterWide => None,
                Scope::Namespaces(set) => Some(SharedScope(Arc::clone(set))),
            },
            max_range_ms: limits.max_range.as_millis(),
            max_subquery_points: limits.max_subquery_points,
        }
    }

    /// Bytes this entry may keep alive: its query and, counted in full for every
    /// entry, its scope (an over-estimate when entries share a set, which keeps
    /// the bound on memory true even when every entry holds a different set).
    fn bytes(&self) -> usize {
        let scope = self
            .scope
            .as_ref()
            .map_or(0, |s| s.0.iter().map(|n| n.len() + 32).sum());
        self.query.len() + scope + 64
    }
}

/// An enforcement outcome: `None` means "forward the query unchanged".
pub(crate) type Decision = Result<Option<Arc<str>>>;

#[derive(Default)]
pub(crate) struct DecisionCache {
    entries: Mutex<(HashMap<DecisionKey, Decision>, usize)>,
}

impl DecisionCache {
    pub(crate) fn get(&self, key: &DecisionKey) -> Option<Decision> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(key)
            .cloned()
    }

    pub(crate) fn insert(&self, key: DecisionKey, decision: Decision) {
        let size = key.bytes()
            + decision
                .as_ref()
                .map_or(64, |d| d.as_ref().map_or(0, |s| s.len()));
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (map, bytes) = &mut *guard;
        if *bytes + size > MAX_CACHED_BYTES {
            map.clear();
            *bytes = 0;
        }
        if map.insert(key, decision).is_none() {
            *bytes += size;
        }
    }
}

/// Compiled scope matchers by their pattern.
#[derive(Default)]
pub(crate) struct RegexCache {
    compiled: Mutex<HashMap<String, Regex>>,
}

impl RegexCache {
    /// The compiled, fully anchored form of `pattern` (as PromQL anchors it).
    pub(crate) fn anchored(&self, pattern: &str) -> std::result::Result<Regex, regex::Error> {
        if let Some(r) = self
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pattern)
        {
            return Ok(r.clone());
        }
        let compiled = Regex::new(&format!("^(?:{pattern})$"))?;
        let mut map = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SCOPE_REGEXES {
            map.clear();
        }
        map.insert(pattern.to_string(), compiled.clone());
        Ok(compiled)
    }
}
