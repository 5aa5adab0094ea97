//! The condition AST.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    /// `[*]`: any element.
    Any,
    /// `[N]`.
    Index(usize),
    /// `[N:M]`, M exclusive.
    Slice(usize, usize),
}

/// A field path: `involvedObject.kind`, `RequestObject.spec.containers[*].image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(pub Vec<Segment>);

/// A literal: text, a number (compared numerically) or a boolean.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Which end `startswith` / `endswith` test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affix {
    Prefix,
    Suffix,
}

/// A parsed condition.
#[derive(Debug, Clone)]
pub enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Compare(Path, Comparison, Literal),
    /// `in (...)` (and Falco's `intersects`): any reached value is one of
    /// the list's; negated for `not in`.
    In(Path, bool, Vec<Literal>),
    /// `contains`, negated for `not contains`.
    Contains(Path, bool, Literal),
    /// `regex` / `like` (translated to a regex), negated for `not ...`.
    Matches(Path, bool, regex::Regex),
    /// Falco's `startswith` / `endswith`, negated for `not ...`.
    Affix(Path, bool, Affix, String),
    /// `exists`, negated for `not exists`.
    Exists(Path, bool),
    /// A bare field: true when it is `true`.
    Truthy(Path),
}
