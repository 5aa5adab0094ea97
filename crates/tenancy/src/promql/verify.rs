//! Independent check of a rewritten query after it has been printed and parsed
//! again: every selector must carry a scope matcher within the scope (or be a
//! public metric). This guards against printer bugs turning a correct AST into
//! text that means something else.

use super::policy::{MetricClass, MetricPolicy};
use super::selector::{parse_scope_regex, selector_class};
use periscope_model::{Error, Result};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};
use std::collections::BTreeSet;

/// Checks every selector of `expr`.
pub(crate) fn verify(
    expr: &Expr,
    namespaces: &BTreeSet<String>,
    policy: &MetricPolicy,
) -> Result<()> {
    match expr {
        Expr::Aggregate(agg) => {
            verify(&agg.expr, namespaces, policy)?;
            match agg.param.as_deref() {
                Some(param) => verify(param, namespaces, policy),
                None => Ok(()),
            }
        }
        Expr::Unary(u) => verify(&u.expr, namespaces, policy),
        Expr::Binary(b) => {
            verify(&b.lhs, namespaces, policy)?;
            verify(&b.rhs, namespaces, policy)
        }
        Expr::Paren(p) => verify(&p.expr, namespaces, policy),
        Expr::Subquery(sq) => verify(&sq.expr, namespaces, policy),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => verify_selector(vs, namespaces, policy),
        Expr::MatrixSelector(ms) => verify_selector(&ms.vs, namespaces, policy),
        Expr::Call(call) => call
            .args
            .args
            .iter()
            .try_for_each(|arg| verify(arg, namespaces, policy)),
        Expr::Extension(_) => Err(failure("extension expression")),
    }
}

/// Checks one selector.
pub(crate) fn verify_selector(
    vs: &VectorSelector,
    namespaces: &BTreeSet<String>,
    policy: &MetricPolicy,
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
    if scoped {
        Ok(())
    } else {
        Err(failure(&format!("selector {vs} lacks the scope matcher")))
    }
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
