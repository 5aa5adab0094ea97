//! What went wrong: a query that does not parse (with the offset), one that
//! asks for what Periscope does not evaluate, or a failure while evaluating.

/// A query that is not LogQL, or not the LogQL Periscope evaluates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at offset {offset}: {message}")]
pub struct ParseError {
    /// Byte offset in the query text.
    pub offset: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            offset,
            message: message.into(),
        }
    }
}

/// A failure while evaluating a query that parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The query is valid LogQL but asks for something invalid at run time
    /// (a pipeline error left in a metric query, a bad regex in a template).
    #[error("{0}")]
    Invalid(String),
    /// A per-query limit was reached; the message says which and how to stay under it.
    #[error("{0}")]
    Limit(String),
}
