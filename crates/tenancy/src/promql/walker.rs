//! The enforcing walk over a parsed query. The `match` is exhaustive on purpose:
//! a new `Expr` variant in the parser must break the build here, not slip through.
//! Unlike the parser's own walkers it visits `AggregateExpr::param`.

use super::cache::RegexCache;
use super::functions::FunctionAllowList;
use super::policy::MetricPolicy;
use super::selector::{enforce_cluster_selector, enforce_selector};
use crate::service_graph::ScopeTokens;
use periscope_config::Limits;
use periscope_model::{Error, Result, Scope};
use promql_parser::parser::{AtModifier, Expr};
use std::time::{Duration, SystemTime};

/// Prometheus' default evaluation interval, the step of a subquery that names none.
const DEFAULT_SUBQUERY_STEP: Duration = Duration::from_secs(60);

pub(crate) struct Walk<'a> {
    pub scope: &'a Scope,
    pub policy: &'a MetricPolicy,
    pub functions: &'a FunctionAllowList,
    pub limits: &'a Limits,
    pub regexes: &'a RegexCache,
    /// The scope's opaque-peer tokens (for namespace scopes).
    pub tokens: Option<&'a ScopeTokens<'a>>,
    /// Set when a cluster-wide caller's query was changed (service-graph
    /// selectors get `opaque_peer=""`).
    pub changed: std::cell::Cell<bool>,
}

impl Walk<'_> {
    pub(crate) fn visit(&self, expr: &mut Expr) -> Result<()> {
        match expr {
            Expr::Aggregate(agg) => {
                self.check_function(&agg.op.to_string())?;
                self.visit(&mut agg.expr)?;
                if let Some(param) = agg.param.as_deref_mut() {
                    self.visit(param)?;
                }
                Ok(())
            }
            Expr::Unary(u) => self.visit(&mut u.expr),
            Expr::Binary(b) => {
                self.visit(&mut b.lhs)?;
                self.visit(&mut b.rhs)
            }
            Expr::Paren(p) => self.visit(&mut p.expr),
            Expr::Subquery(sq) => {
                check_at(sq.at.as_ref())?;
                self.check_range(sq.range, "subquery")?;
                let step = sq.step.unwrap_or(DEFAULT_SUBQUERY_STEP);
                if step.is_zero() {
                    return Err(Error::bad_request(
                        "subquery step must be greater than zero",
                    ));
                }
                let points = sq.range.as_millis() / step.as_millis().max(1);
                if points > u128::from(self.limits.max_subquery_points) {
                    return Err(Error::limit(format!(
                        "subquery would evaluate {points} points per series, more than the {} allowed; use a larger step",
                        self.limits.max_subquery_points
                    )));
                }
                self.visit(&mut sq.expr)
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::VectorSelector(vs) => {
                check_at(vs.at.as_ref())?;
                self.scope_selector(vs)
            }
            Expr::MatrixSelector(ms) => {
                check_at(ms.vs.at.as_ref())?;
                self.check_range(ms.range, "range selector")?;
                self.scope_selector(&mut ms.vs)
            }
            Expr::Call(call) => {
                self.check_function(call.func.name)?;
                for arg in call.args.args.iter_mut() {
                    self.visit(arg)?;
                }
                Ok(())
            }
            Expr::Extension(_) => Err(Error::bad_request("extension expressions are not accepted")),
        }
    }

    fn scope_selector(&self, vs: &mut promql_parser::parser::VectorSelector) -> Result<()> {
        match self.scope {
            Scope::ClusterWide => {
                if enforce_cluster_selector(vs) {
                    self.changed.set(true);
                }
                Ok(())
            }
            Scope::Namespaces(set) => {
                let tokens = self
                    .tokens
                    .ok_or_else(|| Error::internal("scope tokens missing for a namespace scope"))?;
                enforce_selector(vs, set, self.policy, self.regexes, tokens)
            }
        }
    }

    fn check_function(&self, name: &str) -> Result<()> {
        if self.scope.is_cluster_wide() || self.functions.allows(name) {
            Ok(())
        } else {
            Err(Error::bad_request(format!(
                "function {name:?} is not allowed"
            )))
        }
    }

    fn check_range(&self, range: Duration, what: &str) -> Result<()> {
        if range > self.limits.max_range {
            return Err(Error::limit(format!(
                "{what} of {} exceeds the maximum range of {}",
                humantime::format_duration(range),
                humantime::format_duration(self.limits.max_range)
            )));
        }
        Ok(())
    }
}

/// The parser prints an `@` before 1970 as `@ 0.000`, which would change the
/// query: such timestamps are refused rather than silently rewritten.
fn check_at(at: Option<&AtModifier>) -> Result<()> {
    match at {
        Some(AtModifier::At(t)) if *t < SystemTime::UNIX_EPOCH => Err(Error::bad_request(
            "@ timestamps before 1970 are not supported",
        )),
        _ => Ok(()),
    }
}
