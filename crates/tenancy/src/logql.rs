//! Tenant scope on LogQL, on the parsed query: the scope's namespace matcher
//! is ANDed into every stream selector (log and metric queries, both sides of
//! binary operators, inside `label_replace`), then the result is checked —
//! every selector must carry that matcher — before it is evaluated.
//!
//! Refused for a namespace-scoped principal (403): a selector naming a
//! namespace outside the scope (`namespace="other"`, or a regex of literal
//! alternatives naming one), and stages that would rewrite the `namespace`
//! label of an answer (`label_format namespace=…`, `label_replace(…,
//! "namespace", …)`). Parsers cannot: a label a parser extracts under the
//! name of a stream label is renamed `<name>_extracted`.

use periscope_logql::ast::{
    Expr, LabelFormat, LogExpr, MatchOp, Matcher, MetricExpr, Selector, Stage,
};
use periscope_model::{Error, ErrorKind, Result, Scope};
use std::collections::BTreeSet;

/// The stream label that holds a line's namespace.
pub const NAMESPACE_LABEL: &str = "namespace";

/// Rewrites `expr` so that it reads only `scope`'s lines.
pub fn enforce_logql(expr: &mut Expr, scope: &Scope) -> Result<()> {
    let Scope::Namespaces(namespaces) = scope else {
        return Ok(());
    };
    if let Expr::Metric(m) = expr {
        check_label_replace(m)?;
    }
    let mut result = Ok(());
    expr.for_each_log_expr_mut(&mut |log| {
        if result.is_ok() {
            result = enforce_log_expr(log, namespaces);
        }
    });
    result?;
    verify(expr, namespaces)
}

/// Rewrites a selector given alone (a metadata endpoint's `query` or `match[]`).
pub fn enforce_logql_selector(selector: &mut Selector, scope: &Scope) -> Result<()> {
    let Scope::Namespaces(namespaces) = scope else {
        return Ok(());
    };
    enforce_selector(selector, namespaces)?;
    if !carries_scope(selector, namespaces) {
        return Err(unprovable());
    }
    Ok(())
}

/// The matcher that admits exactly `namespaces` (none for an empty set).
pub fn scope_matcher(namespaces: &BTreeSet<String>) -> Matcher {
    Matcher {
        name: NAMESPACE_LABEL.into(),
        op: MatchOp::Re,
        value: scope_regex(namespaces),
    }
}

fn scope_regex(namespaces: &BTreeSet<String>) -> String {
    if namespaces.is_empty() {
        // Anchored, this matches no namespace at all (not even the empty one).
        return "[^\\s\\S]".into();
    }
    namespaces
        .iter()
        // `-` needs no escape outside a class; names read as written.
        .map(|n| regex::escape(n).replace("\\-", "-"))
        .collect::<Vec<_>>()
        .join("|")
}

fn enforce_log_expr(log: &mut LogExpr, namespaces: &BTreeSet<String>) -> Result<()> {
    for stage in &log.pipeline {
        if let Stage::LabelFormat(items) = stage {
            if let Some(LabelFormat { dst, .. }) = items.iter().find(|i| i.dst == NAMESPACE_LABEL) {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!("label_format may not set {dst:?}: a tenant's answers keep each line's own namespace"),
                ));
            }
        }
    }
    enforce_selector(&mut log.selector, namespaces)
}

fn enforce_selector(selector: &mut Selector, namespaces: &BTreeSet<String>) -> Result<()> {
    for m in &selector.matchers {
        if m.name != NAMESPACE_LABEL {
            continue;
        }
        let named: Vec<&str> = match m.op {
            MatchOp::Eq => vec![m.value.as_str()],
            MatchOp::Re => literal_alternatives(&m.value).unwrap_or_default(),
            MatchOp::Ne | MatchOp::Nre => vec![],
        };
        if let Some(foreign) = named.into_iter().find(|n| !namespaces.contains(*n)) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("namespace {foreign:?} is not visible to this principal"),
            ));
        }
    }
    selector.matchers.push(scope_matcher(namespaces));
    Ok(())
}

/// `a|b|c` when every alternative is plain text (no regex syntax).
fn literal_alternatives(regex: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = regex.split('|').collect();
    parts
        .iter()
        .all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .then_some(parts)
}

fn check_label_replace(m: &MetricExpr) -> Result<()> {
    if m.label_replace_targets().contains(&NAMESPACE_LABEL) {
        return Err(Error::new(
            ErrorKind::Forbidden,
            "label_replace may not set \"namespace\": a tenant's answers keep each line's own namespace",
        ));
    }
    Ok(())
}

fn carries_scope(selector: &Selector, namespaces: &BTreeSet<String>) -> bool {
    let required = scope_matcher(namespaces);
    selector.matchers.contains(&required)
}

/// Every selector of the rewritten query carries the scope matcher.
fn verify(expr: &Expr, namespaces: &BTreeSet<String>) -> Result<()> {
    let logs = expr.log_exprs();
    if logs.iter().all(|l| carries_scope(&l.selector, namespaces)) {
        Ok(())
    } else {
        Err(unprovable())
    }
}

fn unprovable() -> Error {
    Error::bad_request(
        "this query cannot be enforced: a stream selector is left without the tenant's scope",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use periscope_logql::parse;

    fn scope() -> Scope {
        Scope::namespaces(["team-a", "team-a2"])
    }

    fn enforced(q: &str) -> Result<String> {
        let mut e = parse(q).unwrap();
        enforce_logql(&mut e, &scope())?;
        Ok(e.to_string())
    }

    #[test]
    fn every_selector_gets_the_scope() {
        assert_eq!(
            enforced(r#"{pod="web"} |= "x""#).unwrap(),
            r#"{pod="web", namespace=~"team-a|team-a2"} |= "x""#
        );
        assert_eq!(
            enforced(r#"sum(rate({pod="a"}[5m])) / sum(rate({pod="b"}[5m]))"#).unwrap(),
            r#"sum(rate({pod="a", namespace=~"team-a|team-a2"} [5m])) / sum(rate({pod="b", namespace=~"team-a|team-a2"} [5m]))"#
        );
        assert_eq!(
            enforced(r#"label_replace(count_over_time({namespace="team-a"}[1m]), "x", "$1", "pod", "(.*)")"#).unwrap(),
            r#"label_replace(count_over_time({namespace="team-a", namespace=~"team-a|team-a2"} [1m]), "x", "$1", "pod", "(.*)")"#
        );
        // Match-all regexes and negations only get narrower.
        assert_eq!(
            enforced(r#"{namespace=~".*"}"#).unwrap(),
            r#"{namespace=~".*", namespace=~"team-a|team-a2"}"#
        );
        assert_eq!(
            enforced(r#"{namespace!="team-a"}"#).unwrap(),
            r#"{namespace!="team-a", namespace=~"team-a|team-a2"}"#
        );
        // A cluster-wide principal's query is unchanged.
        let mut e = parse(r#"{pod="x"}"#).unwrap();
        enforce_logql(&mut e, &Scope::ClusterWide).unwrap();
        assert_eq!(e.to_string(), r#"{pod="x"}"#);
    }

    #[test]
    fn foreign_namespaces_and_relabels_are_forbidden() {
        for q in [
            r#"{namespace="team-b"}"#,
            r#"{namespace=~"team-a|team-b"}"#,
            r#"sum(rate({namespace="team-a"}[1m])) + sum(rate({namespace="team-b"}[1m]))"#,
            r#"{namespace="team-a"} | label_format namespace=pod"#,
            r#"{namespace="team-a"} | label_format namespace="team-b""#,
            r#"label_replace(rate({pod="x"}[1m]), "namespace", "team-b", "", "")"#,
        ] {
            let e = enforced(q).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Forbidden, "{q}: {e}");
        }
    }

    #[test]
    fn an_empty_scope_matches_nothing() {
        let mut s = periscope_logql::parse_selector(r#"{pod="x"}"#).unwrap();
        enforce_logql_selector(&mut s, &Scope::namespaces(Vec::<String>::new())).unwrap();
        let m = regex::Regex::new(&format!("^(?:{})$", s.matchers[1].value)).unwrap();
        assert!(!m.is_match("") && !m.is_match("team-a"));
    }
}
