//! Tenant enforcement on PromQL, done on the parsed AST and never on strings.
//!
//! For a scoped principal, [`Enforcer::enforce_query`]:
//! 1. bounds the text before parsing ([`admission`]),
//! 2. parses it and walks every node, including aggregation parameters
//!    ([`walker`]): functions must be allow-listed, limits respected, and every
//!    selector gets `namespace=~"^(ns1|ns2)$"` (or refuses: foreign namespaces,
//!    cluster-only metrics, `or` inside braces),
//! 3. prints the AST, parses the printed text again and verifies every selector
//!    carries the scope matcher ([`verify`]) before anything is forwarded.
//!
//! Cluster-wide principals get limits checked and their query forwarded
//! unchanged, except that selectors which may match service-graph series get
//! `opaque_peer=""` ([`crate::service_graph`]).

mod admission;
mod cache;
mod functions;
pub mod policy;
mod selector;
mod verify;
mod walker;

use crate::service_graph::{PeerKey, ScopeTokens, OPAQUE_PEER_LABEL, SERVER_NAMESPACE_LABEL};
use admission::Admission;
use cache::{Decision, DecisionCache, DecisionKey, RegexCache};
use functions::FunctionAllowList;
use periscope_config::{Limits, PromqlConfig};
use periscope_model::{Error, Result, Scope};
use policy::{MetricClass, MetricPolicy};
use promql_parser::parser::{self, Expr};
use std::borrow::Cow;
use std::sync::Arc;
use walker::Walk;

/// Rewrites PromQL queries and series selectors into a principal's scope.
pub struct Enforcer {
    admission: Admission,
    policy: MetricPolicy,
    functions: FunctionAllowList,
    decisions: Option<DecisionCache>,
    regexes: RegexCache,
    peer_key: PeerKey,
}

impl Enforcer {
    /// Builds the enforcer from validated configuration.
    pub fn from_config(config: &PromqlConfig) -> Self {
        Self {
            admission: Admission {
                max_bytes: config.max_query_bytes,
                max_depth: config.max_nesting_depth,
                max_operators: config.max_operators,
            },
            policy: MetricPolicy::new(&config.metric_policy, &config.scope_label),
            functions: FunctionAllowList::new(&config.extra_functions),
            decisions: Some(DecisionCache::default()),
            regexes: RegexCache::default(),
            peer_key: PeerKey::random(),
        }
    }

    /// The same enforcer with the key the span-metrics generator uses for
    /// opaque-peer tokens (a random one otherwise).
    pub fn with_peer_key(mut self, key: PeerKey) -> Self {
        self.peer_key = key;
        self
    }

    /// The same enforcer without the decision cache, so every call does the
    /// whole work (for measuring the uncached path).
    pub fn without_decision_cache(mut self) -> Self {
        self.decisions = None;
        self
    }

    /// Whether `query` is within the size, nesting and operator bounds that are
    /// checked before parsing (for callers that combine queries).
    pub fn admits(&self, query: &str) -> bool {
        self.admission.check(query).is_ok()
    }

    /// The query text to forward for `query` run with `scope` under `limits`.
    pub fn enforce_query<'q>(
        &self,
        query: &'q str,
        scope: &Scope,
        limits: &Limits,
    ) -> Result<Cow<'q, str>> {
        let decision = match &self.decisions {
            None => self.decide(query, scope, limits),
            Some(cache) => {
                let key = DecisionKey::new(query, scope, limits);
                match cache.get(&key) {
                    Some(decision) => decision,
                    None => {
                        let decision = self.decide(query, scope, limits);
                        cache.insert(key, decision.clone());
                        decision
                    }
                }
            }
        };
        Ok(match decision? {
            None => Cow::Borrowed(query),
            Some(rewritten) => Cow::Owned(rewritten.to_string()),
        })
    }

    fn decide(&self, query: &str, scope: &Scope, limits: &Limits) -> Decision {
        let mut expr = self.parse(query)?;
        let tokens = match scope {
            Scope::Namespaces(set) => Some(ScopeTokens::new(&self.peer_key, set)),
            Scope::ClusterWide => None,
        };
        let changed = self.walk(&mut expr, scope, limits, tokens.as_ref())?;
        let (Scope::Namespaces(namespaces), Some(tokens)) = (scope, &tokens) else {
            return match changed {
                false => Ok(None),
                true => Ok(Some(Arc::from(self.print_checked(&expr)?))),
            };
        };
        let printed = print(&expr)?;
        // A printer/parser disagreement is a query Periscope cannot prove safe:
        // refused like any other, as the client's problem to rephrase.
        let reparsed = parse_promql(&printed).map_err(|e| {
            Error::bad_request(format!(
                "this query cannot be enforced: its rewritten form does not parse again ({})",
                e.message()
            ))
        })?;
        verify::verify(&reparsed, namespaces, &self.policy, tokens)?;
        Ok(Some(Arc::from(printed)))
    }

    /// The printed form of a rewritten cluster-wide query, checked to parse again.
    fn print_checked(&self, expr: &Expr) -> Result<String> {
        let printed = print(expr)?;
        parse_promql(&printed).map_err(|e| {
            Error::bad_request(format!(
                "this query cannot be rewritten: its rewritten form does not parse again ({})",
                e.message()
            ))
        })?;
        Ok(printed)
    }

    /// The selector to forward for one `match[]` value of the series, labels and
    /// label values APIs. It must be a single vector selector.
    pub fn enforce_match<'q>(&self, selector: &'q str, scope: &Scope) -> Result<Cow<'q, str>> {
        let mut expr = self.parse(selector)?;
        let Expr::VectorSelector(vs) = &mut expr else {
            return Err(Error::bad_request(format!(
                "match[] must be a series selector, got {selector:?}"
            )));
        };
        let Scope::Namespaces(namespaces) = scope else {
            return Ok(match selector::enforce_cluster_selector(vs) {
                false => Cow::Borrowed(selector),
                true => Cow::Owned(self.print_checked(&expr)?),
            });
        };
        let tokens = ScopeTokens::new(&self.peer_key, namespaces);
        selector::enforce_selector(vs, namespaces, &self.policy, &self.regexes, &tokens)?;
        let printed = print(&expr)?;
        match parse_promql(&printed) {
            Ok(Expr::VectorSelector(vs)) => {
                verify::verify_selector(&vs, namespaces, &self.policy, &tokens)?
            }
            _ => {
                return Err(Error::bad_request(
                    "this selector cannot be enforced: its rewritten form does not parse again",
                ))
            }
        }
        Ok(Cow::Owned(printed))
    }

    /// The `match[]` values that stand for "everything this scope may see" when a
    /// request gives none: its namespaces, plus each public metric pattern.
    /// `None` for cluster-wide scopes (no restriction needed).
    pub fn default_matches(&self, scope: &Scope) -> Result<Option<Vec<String>>> {
        let Scope::Namespaces(namespaces) = scope else {
            return Ok(None);
        };
        let mut matches: Vec<String> = self
            .policy
            .public_patterns()
            .iter()
            .map(|p| format!("{{__name__=~{}}}", quote(p)))
            .collect();
        if !namespaces.is_empty() {
            let regex = selector::scope_regex(namespaces.iter());
            let servers = selector::optional_scope_regex(namespaces.iter());
            matches.push(format!(
                "{{{}=~{},{SERVER_NAMESPACE_LABEL}=~{},{OPAQUE_PEER_LABEL}!~{}}}",
                self.policy.default_label(),
                quote(&regex),
                quote(&servers),
                quote(&self.peer_key.tokens_regex(namespaces)),
            ));
        }
        if matches.is_empty() {
            return Err(Error::forbidden("no namespaces are in your scope"));
        }
        Ok(Some(matches))
    }

    /// Whether a metric may appear in metadata listings for `scope`, judged by
    /// policy alone (scoped metrics still need a series in scope).
    pub fn metric_class(&self, name: &str) -> MetricClass {
        self.policy.classify(name)
    }

    fn parse(&self, query: &str) -> Result<Expr> {
        if query.trim().is_empty() {
            return Err(Error::bad_request("empty query"));
        }
        self.admission.check(query)?;
        parse_promql(query)
    }

    /// Enforces `scope` on `expr`; returns whether a cluster-wide query changed.
    fn walk(
        &self,
        expr: &mut Expr,
        scope: &Scope,
        limits: &Limits,
        tokens: Option<&ScopeTokens<'_>>,
    ) -> Result<bool> {
        let walk = Walk {
            scope,
            policy: &self.policy,
            functions: &self.functions,
            limits,
            regexes: &self.regexes,
            tokens,
            changed: std::cell::Cell::new(false),
        };
        walk.visit(expr)?;
        Ok(walk.changed.get())
    }
}

/// Parses PromQL text; a parser error or a panic inside the parser (it has
/// some, e.g. on `offset 1e400`) is a 400 naming the problem.
pub fn parse_promql(text: &str) -> Result<Expr> {
    match periscope_model::guard::no_panic(|| parser::parse(text)) {
        Ok(Ok(expr)) => Ok(expr),
        Ok(Err(e)) => Err(Error::bad_request(format!("invalid PromQL: {}", e.trim()))),
        Err(panic) => Err(Error::bad_request(format!(
            "invalid PromQL: the query cannot be parsed: {panic}"
        ))),
    }
}

/// Prints an AST (the printer is third-party code too).
fn print(expr: &Expr) -> Result<String> {
    periscope_model::guard::no_panic(|| expr.to_string())
        .map_err(|panic| Error::bad_request(format!("the query cannot be printed: {panic}")))
}

/// A PromQL double-quoted string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
