//! Allow-lists of PromQL functions and aggregation operators for scoped principals.
//!
//! Explicit lists rather than the parser's `experimental` flag, so a parser
//! upgrade that learns a new function does not silently widen what tenants may run.

use std::collections::HashSet;

/// Stable PromQL functions (Prometheus 2.x/3.x, experimental ones excluded).
const STABLE_FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Stable aggregation operators.
const STABLE_AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
];

/// The functions and aggregations a scoped principal may use.
#[derive(Debug, Clone)]
pub struct FunctionAllowList {
    allowed: HashSet<String>,
}

impl FunctionAllowList {
    /// The stable set plus `extra` (which may name functions or aggregations).
    pub fn new(extra: &[String]) -> Self {
        let allowed = STABLE_FUNCTIONS
            .iter()
            .chain(STABLE_AGGREGATIONS)
            .map(|s| s.to_string())
            .chain(extra.iter().cloned())
            .collect();
        Self { allowed }
    }

    /// Whether `name` (a function or aggregation operator) may be used.
    pub fn allows(&self, name: &str) -> bool {
        self.allowed.contains(name)
    }
}
