//! A [`LogFilter`] as one DataFusion predicate. The scope is a single
//! `namespace IN (...)` set, however many namespaces it has.

use periscope_logs::{workload, LogFilter};
use periscope_store::datafusion::logical_expr::{binary_expr, Expr, Operator};
use periscope_store::datafusion::prelude::{col, lit};
use periscope_store::like_contains;

/// The predicate for everything but the time range (the scan applies that),
/// or `None` when nothing narrows the rows.
pub fn predicate(filter: &LogFilter) -> Option<Expr> {
    let mut parts: Vec<Expr> = Vec::new();
    if let Some(namespaces) = &filter.namespaces {
        if namespaces.is_empty() {
            // An empty scope sees nothing.
            return Some(lit(false));
        }
        parts.push(
            col("namespace").in_list(namespaces.iter().map(|n| lit(n.as_str())).collect(), false),
        );
    }
    let exact = |column: &str, values: &[String]| {
        (!values.is_empty())
            .then(|| col(column).in_list(values.iter().map(|v| lit(v.as_str())).collect(), false))
    };
    parts.extend(exact("pod", &filter.pods));
    parts.extend(exact("container", &filter.containers));
    parts.extend(any_of(filter.workloads.iter().map(|w| {
        binary_expr(
            col("pod"),
            Operator::RegexMatch,
            lit(workload::pod_pattern(w)),
        )
    })));
    let fuzzy = |column: &str, values: &[String]| {
        any_of(
            values
                .iter()
                .map(|v| col(column).ilike(lit(like_contains(v)))),
        )
    };
    parts.extend(fuzzy("namespace", &filter.namespace_query));
    parts.extend(fuzzy("pod", &filter.workload_query));
    parts.extend(fuzzy("pod", &filter.pod_query));
    parts.extend(fuzzy("container", &filter.container_query));
    parts.extend(fuzzy("log", &filter.log_query));
    parts.into_iter().reduce(Expr::and)
}

/// The OR of the expressions, `None` when there are none.
fn any_of(exprs: impl Iterator<Item = Expr>) -> Option<Expr> {
    exprs.reduce(Expr::or)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    fn empty() -> LogFilter {
        LogFilter {
            namespaces: None,
            workloads: vec![],
            pods: vec![],
            containers: vec![],
            namespace_query: vec![],
            workload_query: vec![],
            pod_query: vec![],
            container_query: vec![],
            log_query: vec![],
            start: 0,
            end: 0,
        }
    }

    #[test]
    fn no_filter_no_predicate() {
        assert!(predicate(&empty()).is_none());
    }

    #[test]
    fn an_empty_scope_matches_nothing() {
        let filter = LogFilter {
            namespaces: Some(Arc::new(BTreeSet::new())),
            ..empty()
        };
        assert_eq!(predicate(&filter), Some(lit(false)));
    }

    #[test]
    fn five_thousand_namespaces_are_one_in_list() {
        let names: BTreeSet<String> = (0..5000).map(|i| format!("ns-{i}")).collect();
        let filter = LogFilter {
            namespaces: Some(Arc::new(names)),
            ..empty()
        };
        match predicate(&filter).unwrap() {
            Expr::InList(list) => assert_eq!(list.list.len(), 5000),
            other => panic!("expected one IN list, got {other}"),
        }
    }

    #[test]
    fn wildcards_in_keywords_are_literal() {
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
