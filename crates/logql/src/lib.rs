//! LogQL, Loki's query language, for Periscope's logs.
//!
//! - [`parse`] turns text into an [`ast::Expr`] (and `Display` turns it back);
//!   what Periscope does not evaluate is refused there, naming the construct;
//! - [`eval`] evaluates a parsed query over lines a backend streams in:
//!   [`eval::LogQuery`] for log queries, [`eval::MetricQuery`] for metric ones;
//! - [`response`] writes Loki's JSON answers.
//!
//! Tenant scope is not decided here: `periscope-tenancy` rewrites the AST
//! before it is evaluated.

pub mod ast;
pub mod error;
pub mod eval;
pub mod labels;
mod lexer;
pub mod parser;
pub mod pattern;
pub mod pipeline;
pub mod request;
pub mod response;
pub mod streams;
pub mod template;
pub mod units;

pub use ast::{Expr, LogExpr, MatchOp, Matcher, MetricExpr, Selector};
pub use error::{EvalError, ParseError};
pub use labels::LabelSet;
pub use parser::{parse, parse_selector};

pub(crate) fn format_rfc3339(ns: i64) -> String {
    periscope_logs::format_time(ns)
}

#[cfg(test)]
mod tests;
