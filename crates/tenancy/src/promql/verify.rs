//! Independent check of a rewritten query after it has been printed and parsed
//! again: every selector must carry a scope matcher within the scope (or be a
//! public metric). This guards against printer bugs turning a correct AST into
//! text that means something else.

use super::policy::{MetricClass, MetricPolicy};
use super::selector::{metric_name, parse_optional_scope_regex, parse_scope_regex, selector_class};
use crate::service_graph::{self, ScopeTokens, OPAQUE_PEER_LABEL, SERVER_NAMESPACE_LABEL};
use periscope_model::{Error, Result};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};
use std::collections::BTreeSet;

/// Checks every selector of `expr`.
pub(crate) fn verify(
    expr: &Expr,
    namespaces: &BTreeSet<String>,
    policy: &MetricPolicy,
    key: &ScopeTokens<'_>,
) -> Result<()> {
    match expr {
        Expr::Aggregate(agg) => {
            verify(&agg.expr, namespaces, policy, key)?;
            match agg.param.as_deref() {
                Some(param) => verify(param, namespaces, policy, key),
                None => Ok(()),
            }
        }
        Expr::Unary(u) => verify(&u.expr, namespaces, policy, key),
        Expr::Binary(b) => {
            verify(&b.lhs, namespaces, policy, key)?;
            verify(&b.rhs, namespaces, policy, key)
        }
        Expr::Paren(p) => verify(&p.expr, namespaces, policy, key),
        Expr::Subquery(sq) => verify(&sq.expr, namespaces, policy, key),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => verify_selector(vs, namespaces, policy, key),
        Expr::MatrixSelector(ms) => verify_selector(&ms.vs, namespaces, policy, key),
        Expr::Call(call) => call
            .args
            .args
            .iter()
            .try_for_each(|arg| verify(arg, namespaces, policy, key)),
        Expr::Extension(_) => Err(failure("extension expression")),
    }
}

/// Checks one selector.
pub(crate) fn verify_selector(
    vs: &VectorSelector,
    namespaces: &BTreeSet<String>,
    policy: &MetricPolicy,
    key: &ScopeTokens<'_>,
) -> Result<()> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(failure("or-matchers after rewrite"));
    }
    let label = match selector_class(vs, policy)? {
        MetricClass::Public => return Ok(()),
        MetricClass::ClusterOnly => return Err(failure("cluster-only metric after rewrite")),
        MetricClass::Scoped(label) => label,
    };
    let scoped = vs.matchers.matchers.iter().any(|m| {
        m.name == label
            && matches!(m.op, MatchOp::Re(_))
            && parse_scope_regex(&m.value)
                .is_some_and(|ns| !ns.is_empty() && ns.iter().all(|n| namespaces.contains(n)))
    });
    if !scoped {
        return Err(failure(&format!("selector {vs} lacks the scope matcher")));
    }
    if service_graph::may_be_edges(metric_name(vs)) {
        let matchers = &vs.matchers.matchers;
        let servers_scoped = matchers.iter().any(|m| {
            m.name == SERVER_NAMESPACE_LABEL
                && matches!(m.op, MatchOp::Re(_))
                && parse_optional_scope_regex(&m.value)
                    .is_some_and(|ns| ns.iter().all(|n| namespaces.contains(n)))
        });
        let tokens = key.regex();
        let halves_scoped = matchers.iter().any(|m| {
            m.name == OPAQUE_PEER_LABEL && matches!(m.op, MatchOp::NotRe(_)) && m.value == tokens
        });
        if !servers_scoped || !halves_scoped {
            return Err(failure(&format!(
                "selector {vs} lacks the service-graph matchers"
            )));
        }
    }
    Ok(())
}

fn failure(what: &str) -> Error {
    tracing::error!(
        what,
        "tenant enforcement verification failed; query refused"
    );
    Error::internal(format!(
        "query refused: enforcement verification failed ({what})"
    ))
}
