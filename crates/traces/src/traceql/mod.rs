//! A TraceQL subset: one spanset filter `{ ... }` over span intrinsics and
//! attributes, parsed into an AST by a hand-written lexer and precedence
//! parser. Supported: scoped (`span.`, `resource.`) and unscoped (`.attr`)
//! attributes; intrinsics `name`, `status`, `kind`, `duration`,
//! `rootServiceName`, `rootName`; `= != > >= < <= =~ !~` (regexes fully
//! anchored); `&&`, `||`, `!` and parentheses; string (quoted or raw),
//! integer, float, duration, boolean, `nil`, status and kind literals.
//! Anything else — pipelines, spanset operators, structural operators,
//! aggregates, other scopes — is refused with the construct named.

mod ast;
mod eval;
mod lexer;
mod parser;
mod pushdown;

pub use ast::{AttributeScope, Comparison, Field, Filter, Op, Value};
pub use eval::TraceContext;
pub use parser::{field, parse};
pub use pushdown::Pushdown;

/// Longest accepted query.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Deepest accepted nesting of parentheses and `!`.
pub const MAX_DEPTH: usize = 64;

#[cfg(test)]
mod tests;
