//! Rules over event and audit records. Their conditions are in the syntax of kube-events'
//! event-rule-engine (`type="Warning" and involvedObject.kind="Pod" and
//! reason="BackOff" and count>3`), parsed into an AST ([`Condition::parse`],
//! which is the validation on write) and evaluated against a record's JSON
//! ([`Condition::matches`]) with that engine's semantics, kept for
//! compatibility:
//! - `and` and `or` have one precedence and associate to the left
//!   (`a or b and c` is `(a or b) and c`); a prefix `not` negates everything
//!   after it (`not a and b` is `not (a and b)`);
//! - a comparison on a missing field is false, negated operators included
//!   (`!=`, `not in`, `not contains`, `not like`, `not regex`); only `not
//!   exists` holds for it;
//! - `like` (`*`, `?` wildcards) and `regex` are unanchored;
//! - a number literal compares numerically (a non-numeric value is an error of
//!   the evaluation, not a match); other values compare as text;
//! - `a[*].b` is any element, `a[N]` and `a[N:M]` the elements of an index or
//!   slice.
//!
//! A documented strict dialect ([`Dialect::Strict`]) reads them as most
//! people expect. Audit conditions also take Falco's `ka.*` field names;
//! groups may define lists, macros and aliases ([`Context`]).
//!
//! Around the conditions: rule groups of `type: event|audit` ([`parse_group`]),
//! what a rule sees of a record ([`RuleRecord`]), `%field` references
//! ([`FieldRefs`]), threshold windows ([`RuleWindows`]) and the index that
//! checks each record only against the rules it may match ([`RuleSet`]).
//! The alerting engine runs them (`periscope_alerting::records`).

mod ast;
mod eval;
mod group;
mod parse;
mod record;
mod ruleset;
mod template;
mod vocabulary;
mod window;

pub use ast::{Affix, Comparison, Condition, Literal, Path, Segment};
pub use group::{
    declared_kind, parse_group, GroupErrors, RecordGroup, RecordRule, Threshold, DEFAULT_INTERVAL,
    DEFAULT_QUIET,
};
pub use parse::ParseError;
pub use record::{RecordKind, RuleRecord};
pub use ruleset::{InstalledRule, Matches, Reach, RuleSet};
pub use template::{field_label, FieldRefs};
pub use vocabulary::{falco_field, Context, Dialect, Fields};
pub use window::{KeyWindow, Labels, Match, RuleWindows};

#[cfg(test)]
mod tests;
