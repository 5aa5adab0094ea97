//! Predicate parts the signal stores build their filters from.

use periscope_record_search::Namespaces;
use periscope_store::datafusion::logical_expr::Expr;
use periscope_store::datafusion::prelude::{col, lit};
use periscope_store::like_contains;

/// The scope: `column IN (set)` (however many namespaces: one list), and one
/// of the namespace substrings. An empty set matches nothing.
pub fn scope(column: &str, namespaces: &Namespaces) -> Option<Expr> {
    let set = namespaces.set.as_ref().map(|set| {
        if set.is_empty() {
            lit(false)
        } else {
            col(column).in_list(set.iter().map(|n| lit(n.as_str())).collect(), false)
        }
    });
    [set, any_ilike(column, &namespaces.search)]
        .into_iter()
        .flatten()
        .reduce(Expr::and)
}

/// `column` is one of `values` (none: no condition).
pub fn one_of(column: &str, values: &[String]) -> Option<Expr> {
    (!values.is_empty())
        .then(|| col(column).in_list(values.iter().map(|v| lit(v.as_str())).collect(), false))
}

/// `column` contains one of `values`, case-insensitively.
pub fn any_ilike(column: &str, values: &[String]) -> Option<Expr> {
    values
        .iter()
        .map(|v| col(column).ilike(lit(like_contains(v))))
        .reduce(Expr::or)
}

/// `column` equals one of `values` ignoring case.
pub fn exact_any_case(column: &str, values: &[String]) -> Option<Expr> {
    values
        .iter()
        .map(|v| {
            let pattern = like_contains(v);
            col(column).ilike(lit(&pattern[1..pattern.len() - 1]))
        })
        .reduce(Expr::or)
}

/// Integer `column` is one of `values` (none: no condition).
pub fn one_of_numbers(column: &str, values: &[i64]) -> Option<Expr> {
    (!values.is_empty())
        .then(|| col(column).in_list(values.iter().map(|v| lit(*v)).collect(), false))
}
