//! The parsed filter.

use regex::Regex;

/// A boolean condition on one span.
#[derive(Debug, Clone)]
pub enum Filter {
    /// `{}`: every span.
    All,
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Comparison),
}

/// `field op value`.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub field: Field,
    pub op: Op,
    pub value: Value,
    /// The compiled, fully anchored pattern of `=~` and `!~`.
    pub regex: Option<Regex>,
}

/// What a comparison reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// The span's name (operation).
    Name,
    /// `ok`, `error` or `unset`.
    Status,
    /// `server`, `client`, ...
    Kind,
    /// Nanoseconds.
    Duration,
    /// The service of the trace's root span.
    RootServiceName,
    /// The name of the trace's root span.
    RootName,
    Attribute {
        scope: AttributeScope,
        key: String,
    },
}

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeScope {
    Span,
    Resource,
    /// `.attr`: the span's, else its resource's.
    Any,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    /// OTLP status code (0 unset, 1 ok, 2 error).
    Status(i32),
    /// OTLP span kind number.
    Kind(i32),
    Nil,
}

impl Filter {
    /// The comparisons every matching span must satisfy (the top-level
    /// conjunction), for backends to narrow their reads.
    pub fn required(&self) -> Vec<&Comparison> {
        match self {
            Filter::And(a, b) => {
                let mut out = a.required();
                out.extend(b.required());
                out
            }
            Filter::Compare(c) => vec![c],
            _ => Vec::new(),
        }
    }

    /// Whether the filter reads the trace's root (needs the whole trace).
    pub fn reads_root(&self) -> bool {
        match self {
            Filter::All => false,
            Filter::And(a, b) | Filter::Or(a, b) => a.reads_root() || b.reads_root(),
            Filter::Not(a) => a.reads_root(),
            Filter::Compare(c) => matches!(c.field, Field::RootServiceName | Field::RootName),
        }
    }
}
