//! Catalog query templates: parsed once, then specialised per request by
//! rewriting placeholder matchers in the AST. Request input only ever becomes
//! a matcher value (escaped when it is a regex); it is never pasted into text.

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{self, Expr};
use std::collections::BTreeMap;
use std::fmt;

/// A resource a template can be narrowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    Node,
    Namespace,
    Pod,
    Container,
    /// A service of the span metrics (`service` label).
    Service,
    /// An operation of a service (`span_name` label).
    Operation,
}

impl Placeholder {
    const ALL: [Placeholder; 6] = [
        Placeholder::Node,
        Placeholder::Namespace,
        Placeholder::Pod,
        Placeholder::Container,
        Placeholder::Service,
        Placeholder::Operation,
    ];

    /// `$node`, `$namespace`, ...
    pub fn token(self) -> &'static str {
        match self {
            Placeholder::Node => "$node",
            Placeholder::Namespace => "$namespace",
            Placeholder::Pod => "$pod",
            Placeholder::Container => "$container",
            Placeholder::Service => "$service",
            Placeholder::Operation => "$operation",
        }
    }

    fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.token() == token)
    }
}

/// The values each placeholder is narrowed to; an absent placeholder matches
/// everything (its matcher is removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<Placeholder, Vec<String>>);

impl Filters {
    /// Narrows `placeholder` to exactly `values` (at least one).
    pub fn set(&mut self, placeholder: Placeholder, values: Vec<String>) {
        debug_assert!(!values.is_empty(), "an empty filter selects nothing");
        self.0.insert(placeholder, values);
    }

    /// The values `placeholder` is narrowed to.
    pub fn get(&self, placeholder: Placeholder) -> Option<&[String]> {
        self.0.get(&placeholder).map(Vec::as_slice)
    }
}

/// A parsed query template.
#[derive(Debug, Clone)]
pub struct Template {
    expr: Expr,
}

impl Template {
    /// Parses `text`; every `$...` matcher value must be a known placeholder
    /// used with `=~`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expr = periscope_model::guard::no_panic(|| parser::parse(text))
            .map_err(|panic| format!("the query cannot be parsed: {panic}"))??;
        let mut problem = None;
        visit_matchers(&mut expr.clone(), &mut |m| {
            if m.value.starts_with('$') && problem.is_none() {
                if Placeholder::from_token(&m.value).is_none() {
                    problem = Some(format!("unknown placeholder {:?}", m.value));
                } else if !matches!(m.op, MatchOp::Re(_)) {
                    problem = Some(format!(
                        "placeholder {:?} must be used as {}=~{:?}",
                        m.value, m.name, m.value
                    ));
                }
            }
            true
        });
        match problem {
            Some(p) => Err(p),
            None => Ok(Self { expr }),
        }
    }

    /// The query narrowed to `filters`, as PromQL text.
    pub fn render(&self, filters: &Filters) -> String {
        self.render_for(filters, &crate::SpanMetricNames::tempo())
    }

    /// The query narrowed to `filters`, its span metrics under `names`.
    pub fn render_for(&self, filters: &Filters, names: &crate::SpanMetricNames) -> String {
        let mut expr = self.expr.clone();
        visit_matchers(&mut expr, &mut |m| {
            let Some(placeholder) = Placeholder::from_token(&m.value) else {
                return true;
            };
            match filters.get(placeholder) {
                None => false,
                Some([one]) => {
                    *m = Matcher::new(MatchOp::Equal, &m.name, one);
                    true
                }
                Some(values) => {
                    let alternation = values
                        .iter()
                        .map(|v| regex::escape(v))
                        .collect::<Vec<_>>()
                        .join("|");
                    let anchored = regex::Regex::new(&format!("^(?:{alternation})$"))
                        .expect("an alternation of escaped literals is a valid regex");
                    *m = Matcher::new(MatchOp::Re(anchored), &m.name, &alternation);
                    true
                }
            }
        });
        names.rename(&mut expr);
        expr.to_string()
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)
    }
}

/// Calls `keep` on every label matcher of every selector; a matcher for which
/// it returns false is removed.
fn visit_matchers(expr: &mut Expr, keep: &mut dyn FnMut(&mut Matcher) -> bool) {
    let on_matchers = |ms: &mut Matchers, keep: &mut dyn FnMut(&mut Matcher) -> bool| {
        ms.matchers.retain_mut(|m| keep(m));
        for group in &mut ms.or_matchers {
            group.retain_mut(|m| keep(m));
        }
    };
    match expr {
        Expr::Aggregate(a) => {
            visit_matchers(&mut a.expr, keep);
            if let Some(p) = a.param.as_deref_mut() {
                visit_matchers(p, keep);
            }
        }
        Expr::Unary(u) => visit_matchers(&mut u.expr, keep),
        Expr::Binary(b) => {
            visit_matchers(&mut b.lhs, keep);
            visit_matchers(&mut b.rhs, keep);
        }
        Expr::Paren(p) => visit_matchers(&mut p.expr, keep),
        Expr::Subquery(s) => visit_matchers(&mut s.expr, keep),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        Expr::VectorSelector(v) => on_matchers(&mut v.matchers, keep),
        Expr::MatrixSelector(m) => on_matchers(&mut m.vs.matchers, keep),
        Expr::Call(c) => {
            for arg in &mut c.args.args {
                visit_matchers(arg, keep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str =
        r#"sum by (pod) (rate(x{job="kubelet", namespace=~"$namespace", pod=~"$pod"}[5m]))"#;

    #[test]
    fn absent_filters_remove_the_placeholder_matchers() {
        let t = Template::parse(T).unwrap();
        assert_eq!(
            t.render(&Filters::default()),
            r#"sum by (pod) (rate(x{job="kubelet"}[5m]))"#
        );
    }

    #[test]
    fn one_value_becomes_an_equality_and_several_an_escaped_alternation() {
        let t = Template::parse(T).unwrap();
        let mut f = Filters::default();
        f.set(Placeholder::Namespace, vec!["team-a".into()]);
        f.set(
            Placeholder::Pod,
            vec!["a.b".into(), r#"x"}) or vector(1) #"#.into()],
        );
        let rendered = t.render(&f);
        assert!(rendered.contains(r#"namespace="team-a""#), "{rendered}");
        // The hostile value stays one escaped matcher value: the query still
        // parses to a single selector with exactly these matchers.
        let reparsed = parser::parse(&rendered).unwrap();
        let mut seen = Vec::new();
        visit_matchers(&mut reparsed.clone(), &mut |m| {
            seen.push((m.name.clone(), m.value.clone()));
            true
        });
        assert_eq!(seen.len(), 3, "{rendered}");
        assert_eq!(seen[2].0, "pod");
        assert_eq!(seen[2].1, r#"a\.b|x"\}\) or vector\(1\) \#"#);
    }

    #[test]
    fn unknown_or_misused_placeholders_are_refused() {
        assert!(Template::parse(r#"x{a=~"$nope"}"#)
            .unwrap_err()
            .contains("unknown placeholder"));
        assert!(Template::parse(r#"x{namespace="$namespace"}"#)
            .unwrap_err()
            .contains("must be used as"));
        assert!(Template::parse("sum(").is_err());
    }
}
