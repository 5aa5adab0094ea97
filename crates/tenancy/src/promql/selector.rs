//! Enforcement on one vector selector, and the scope matcher it receives.

use super::cache::RegexCache;
use super::policy::{MetricClass, MetricPolicy};
use crate::service_graph::{self, ScopeTokens, OPAQUE_PEER_LABEL, SERVER_NAMESPACE_LABEL};
use periscope_model::{Error, Result};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::VectorSelector;
use std::collections::BTreeSet;

const METRIC_NAME: &str = "__name__";

/// The metric a selector names, if it names exactly one (by `name{...}` or by
/// `{__name__="name"}`; several different names select nothing, and count as none).
pub(crate) fn metric_name(vs: &VectorSelector) -> Option<&str> {
    let mut names = vs.name.iter().map(String::as_str).chain(
        vs.matchers
            .matchers
            .iter()
            .filter(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal)
            .map(|m| m.value.as_str()),
    );
    let first = names.next()?;
    names.all(|n| n == first).then_some(first)
}

/// How a selector must be scoped: not at all (public or cluster-wide principal),
/// or by a matcher on `label`.
pub(crate) fn selector_class(vs: &VectorSelector, policy: &MetricPolicy) -> Result<MetricClass> {
    match metric_name(vs) {
        Some(name) => Ok(policy.classify(name)),
        None if policy.has_alternate_labels() => Err(Error::forbidden(
            "selectors must name a metric: some metrics are scoped by a label other than the default",
        )),
        None => Ok(MetricClass::Scoped(policy.default_label().to_string())),
    }
}

/// Restricts `vs` to `namespaces`: refuses matchers that name namespaces outside
/// them, and appends `label=~"^(ns1|ns2)$"` for the namespaces the user's own
/// matchers still allow (the intersection), plus the service-graph matchers
/// when it may select edges ([`crate::service_graph`]).
pub(crate) fn enforce_selector(
    vs: &mut VectorSelector,
    namespaces: &BTreeSet<String>,
    policy: &MetricPolicy,
    regexes: &RegexCache,
    tokens: &ScopeTokens<'_>,
) -> Result<()> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::bad_request(
            "the `or` operator inside selector braces is not PromQL; write two selectors joined by `or`",
        ));
    }
    let label = match selector_class(vs, policy)? {
        MetricClass::Public => return Ok(()),
        MetricClass::ClusterOnly => {
            return Err(Error::forbidden(format!(
                "metric {} is visible only to cluster-wide principals",
                metric_name(vs).unwrap_or("?")
            )))
        }
        MetricClass::Scoped(label) => label,
    };
    if namespaces.is_empty() {
        return Err(Error::forbidden("no namespaces are in your scope"));
    }
    let user_matchers: Vec<&Matcher> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name == label)
        .collect();
    for m in &user_matchers {
        for named in named_values(m) {
            if !namespaces.contains(&named) {
                return Err(Error::forbidden(format!(
                    "{label} {named:?} is outside your scope"
                )));
            }
        }
    }
    let allowed: Vec<&String> = namespaces
        .iter()
        .filter(|ns| user_matchers.iter().all(|m| m.is_match(ns)))
        .collect();
    if allowed.is_empty() {
        return Err(Error::forbidden(format!(
            "the {label} matchers of this selector select no namespace in your scope"
        )));
    }
    vs.matchers
        .matchers
        .push(scope_matcher(&label, allowed.into_iter(), regexes)?);
    if service_graph::may_be_edges(metric_name(vs)) {
        let server = optional_scope_regex(namespaces.iter());
        let tokens = tokens.regex();
        vs.matchers.matchers.push(Matcher::new(
            MatchOp::Re(compile(&server, regexes)?),
            SERVER_NAMESPACE_LABEL,
            &server,
        ));
        vs.matchers.matchers.push(Matcher::new(
            MatchOp::NotRe(compile(tokens, regexes)?),
            OPAQUE_PEER_LABEL,
            tokens,
        ));
    }
    Ok(())
}

/// For a cluster-wide caller: appends `opaque_peer=""` when `vs` may select
/// service-graph series, so only whole edges are seen (never their halves).
/// Returns whether it changed the selector.
pub(crate) fn enforce_cluster_selector(vs: &mut VectorSelector) -> bool {
    if !service_graph::may_be_edges(metric_name(vs)) {
        return false;
    }
    vs.matchers
        .matchers
        .push(Matcher::new(MatchOp::Equal, OPAQUE_PEER_LABEL, ""));
    true
}

/// The values a matcher names explicitly: its value for `=`, the literal
/// alternatives of a regex made only of literals (`a|b`). Such matchers must
/// name only namespaces in scope; other regexes are intersected instead.
fn named_values(m: &Matcher) -> Vec<String> {
    match &m.op {
        MatchOp::Equal => vec![m.value.clone()],
        MatchOp::Re(_) => literal_alternatives(&m.value).unwrap_or_default(),
        MatchOp::NotEqual | MatchOp::NotRe(_) => Vec::new(),
    }
}

/// `Some(literals)` when `pattern` is a plain literal or alternation of literals.
fn literal_alternatives(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::{Hir, HirKind};
    fn literal(h: &Hir) -> Option<String> {
        match h.kind() {
            HirKind::Literal(l) => String::from_utf8(l.0.to_vec()).ok(),
            HirKind::Capture(c) => literal(&c.sub),
            HirKind::Concat(parts) => parts.iter().map(literal).collect(),
            HirKind::Empty => Some(String::new()),
            _ => None,
        }
    }
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let hir = match hir.kind() {
        HirKind::Capture(c) => (*c.sub).clone(),
        _ => hir,
    };
    match hir.kind() {
        HirKind::Alternation(alts) => alts.iter().map(literal).collect(),
        _ => literal(&hir).map(|l| vec![l]),
    }
}

/// `label=~"^(a|b)$"` with every namespace regex-escaped.
fn scope_matcher<'a>(
    label: &str,
    namespaces: impl Iterator<Item = &'a String>,
    regexes: &RegexCache,
) -> Result<Matcher> {
    let value = scope_regex(namespaces);
    Ok(Matcher::new(
        MatchOp::Re(compile(&value, regexes)?),
        label,
        &value,
    ))
}

fn compile(pattern: &str, regexes: &RegexCache) -> Result<regex::Regex> {
    regexes
        .anchored(pattern)
        .map_err(|e| Error::internal(format!("building the scope matcher: {e}")))
}

/// `^(a|b)?$`: one of the namespaces, or the label absent.
pub(crate) fn optional_scope_regex<'a>(namespaces: impl Iterator<Item = &'a String>) -> String {
    let mut regex = scope_regex(namespaces);
    regex.insert(regex.len() - 1, '?');
    regex
}

/// Inverse of [`optional_scope_regex`].
pub(crate) fn parse_optional_scope_regex(value: &str) -> Option<Vec<String>> {
    let inner = value.strip_suffix(")?$")?;
    parse_scope_regex(&format!("{inner})$"))
}

/// `^(a|b)$` for the given namespaces.
pub(crate) fn scope_regex<'a>(namespaces: impl Iterator<Item = &'a String>) -> String {
    let alternatives: Vec<String> = namespaces.map(|ns| regex::escape(ns)).collect();
    format!("^({})$", alternatives.join("|"))
}

/// Inverse of [`scope_regex`]: the namespaces of a scope matcher value, or `None`
/// when `value` is not exactly of that form.
pub(crate) fn parse_scope_regex(value: &str) -> Option<Vec<String>> {
    let inner = value.strip_prefix("^(")?.strip_suffix(")$")?;
    let mut namespaces = Vec::new();
    for part in inner.split('|') {
        let mut name = String::new();
        let mut chars = part.chars();
        while let Some(c) = chars.next() {
            name.push(if c == '\\' { chars.next()? } else { c });
        }
        if name.is_empty() || regex::escape(&name) != part {
            return None;
        }
        namespaces.push(name);
    }
    Some(namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_alternatives_are_recognised() {
        assert_eq!(
            literal_alternatives("team-a|team-b"),
            Some(vec!["team-a".into(), "team-b".into()])
        );
        assert_eq!(
            literal_alternatives("(team-a)"),
            Some(vec!["team-a".into()])
        );
        assert_eq!(
            literal_alternatives("team\\.a"),
            Some(vec!["team.a".into()])
        );
        assert_eq!(literal_alternatives("team-.*"), None);
        assert_eq!(literal_alternatives(".+"), None);
    }

    #[test]
    fn scope_regex_round_trips() {
        let ns = vec!["team-a".to_string(), "a.b".to_string()];
        let re = scope_regex(ns.iter());
        assert_eq!(parse_scope_regex(&re), Some(ns.clone()));
        assert_eq!(parse_scope_regex("^(.*)$"), None);
        assert_eq!(parse_scope_regex("^(a)$|x"), None);
        assert_eq!(parse_scope_regex("^()$"), None);
        let optional = optional_scope_regex(ns.iter());
        assert_eq!(optional, r"^(team\-a|a\.b)?$");
        assert_eq!(parse_optional_scope_regex(&optional), Some(ns));
        assert_eq!(parse_optional_scope_regex(&re), None);
    }
}
