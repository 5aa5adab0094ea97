//! Property test: for random PromQL built from the grammar's node kinds (with
//! hostile label values), enforcement never panics, and whatever it accepts has
//! the scope matcher on every selector when parsed again.

use periscope_config::{Limits, PromqlConfig};
use periscope_model::Scope;
use periscope_tenancy::Enforcer;
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};
use proptest::prelude::*;

const SCOPE: [&str; 2] = ["team-a", "team-a-dev"];

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("team-a".to_string()),
        Just("team-b".to_string()),
        Just(".*".to_string()),
        Just("team-a|team-b".to_string()),
        Just(String::new()),
        "[a-z\\-\"\\\\|.*{}() ]{0,12}",
    ]
}

fn matcher() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("namespace"),
            Just("job"),
            Just("__name__"),
            Just("pod")
        ],
        prop_oneof![Just("="), Just("!="), Just("=~"), Just("!~")],
        label_value(),
    )
        .prop_map(|(name, op, value)| {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            format!("{name}{op}\"{escaped}\"")
        })
}

fn selector() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just(""),
            Just("up"),
            Just("http_requests_total"),
            Just("kube_pod_info")
        ],
        prop::collection::vec(matcher(), 0..3),
        prop_oneof![
            Just(""),
            Just(" offset 5m"),
            Just(" @ 1700000000"),
            Just(" @ end()")
        ],
    )
        .prop_map(|(name, matchers, modifier)| {
            let braces = if matchers.is_empty() && !name.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", matchers.join(","))
            };
            format!("{name}{braces}{modifier}")
        })
}

fn expr() -> impl Strategy<Value = String> {
    selector().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|e| format!("sum by (namespace) ({e})")),
            (inner.clone(), inner.clone())
                .prop_map(|(p, e)| format!("topk(scalar(count({p})), {e})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("{a} / on(namespace) group_left {b}")),
            inner.clone().prop_map(|e| format!("absent({e})")),
            inner
                .clone()
                .prop_map(|e| format!("label_replace({e}, \"namespace\", \"x\", \"\", \"\")")),
            inner
                .clone()
                .prop_map(|e| format!("max_over_time(({e})[10m:1m])")),
            inner.clone().prop_map(|e| format!("-({e})")),
            selector().prop_map(|s| format!("rate({s}[5m])")),
        ]
    })
}

/// Independent of the crate's own verifier: every selector has a `namespace`
/// regex matcher whose alternatives are all in scope.
fn all_selectors_scoped(e: &Expr) -> bool {
    fn scoped(vs: &VectorSelector) -> bool {
        vs.matchers.or_matchers.is_empty()
            && vs.matchers.matchers.iter().any(|m| {
                m.name == "namespace"
                    && matches!(m.op, MatchOp::Re(_))
                    && m.value.starts_with("^(")
                    && m.value.ends_with(")$")
                    && m.value[2..m.value.len() - 2]
                        .split('|')
                        .all(|alt| SCOPE.iter().any(|ns| regex::escape(ns) == alt))
            })
    }
    match e {
        Expr::Aggregate(a) => {
            all_selectors_scoped(&a.expr) && a.param.as_deref().is_none_or(all_selectors_scoped)
        }
        Expr::Unary(u) => all_selectors_scoped(&u.expr),
        Expr::Binary(b) => all_selectors_scoped(&b.lhs) && all_selectors_scoped(&b.rhs),
        Expr::Paren(p) => all_selectors_scoped(&p.expr),
        Expr::Subquery(s) => all_selectors_scoped(&s.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::VectorSelector(vs) => scoped(vs),
        Expr::MatrixSelector(ms) => scoped(&ms.vs),
        Expr::Call(c) => c.args.args.iter().all(|a| all_selectors_scoped(a)),
        Expr::Extension(_) => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn accepted_queries_are_fully_scoped(query in expr()) {
        let enforcer = Enforcer::from_config(&PromqlConfig::default());
        let scope = Scope::namespaces(SCOPE);
        if let Ok(out) = enforcer.enforce_query(&query, &scope, &Limits::default()) {
            let reparsed = parser::parse(&out).expect("output parses");
            prop_assert!(all_selectors_scoped(&reparsed), "{} -> {}", query, out);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(query in "\\PC{0,200}") {
        let enforcer = Enforcer::from_config(&PromqlConfig::default());
        let _ = enforcer.enforce_query(&query, &Scope::namespaces(SCOPE), &Limits::default());
        let _ = enforcer.enforce_match(&query, &Scope::namespaces(SCOPE));
    }
}

/// The generator must produce accepted queries, or the property says nothing.
#[test]
fn generator_produces_accepted_queries() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let enforcer = Enforcer::from_config(&PromqlConfig::default());
    let scope = Scope::namespaces(SCOPE);
    let accepted = (0..300)
        .filter(|_| {
            let q = expr().new_tree(&mut runner).unwrap().current();
            enforcer
                .enforce_query(&q, &scope, &Limits::default())
                .is_ok()
        })
        .count();
    assert!(
        accepted >= 30,
        "only {accepted} of 300 generated queries were accepted"
    );
}
