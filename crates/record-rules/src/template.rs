//! kube-events' `%field` references in labels and annotations
//! (`%message`, `%involvedObject.name`; Falco's `%ka.user.name` for audit):
//! taken out of the text when a rule is loaded, filled from the matching
//! record. In annotations, Periscope's templates (`{{ $labels.pod }}`,
//! `{{ $value }}`) still work around them: each reference becomes
//! `{{ $labels.__fieldN }}`, so a record's text is data, never template.

use crate::ast::Path;
use crate::eval::{text, values};
use crate::vocabulary::Context;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(usize),
}

/// A text with `%field` references.
#[derive(Debug, Clone)]
pub struct FieldRefs {
    parts: Vec<Part>,
    /// The paths referenced, in order.
    pub paths: Vec<Path>,
}

/// The label name a reference is given to the template engine under.
pub fn field_label(n: usize) -> String {
    format!("__field{n}")
}

impl FieldRefs {
    /// Takes the references out of `written` (not inside `{{ }}`), names
    /// resolved through `context` (aliases, `ka.*`).
    pub fn parse(written: &str, context: &Context) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut paths = Vec::new();
        let mut literal = String::new();
        let bytes = written.as_bytes();
        let mut i = 0;
        let mut in_action = false;
        while i < bytes.len() {
            if written[i..].starts_with("{{") {
                in_action = true;
            } else if written[i..].starts_with("}}") {
                in_action = false;
            }
            let starts_ref = !in_action
                && bytes[i] == b'%'
                && bytes
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
            if !starts_ref {
                let c = written[i..].chars().next().unwrap_or(' ');
                literal.push(c);
                i += c.len_utf8();
                continue;
            }
            let start = i + 1;
            let mut end = start;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b'.'))
            {
                end += 1;
            }
            // A sentence's full stop is not part of the name.
            while end > start && bytes[end - 1] == b'.' {
                end -= 1;
            }
            let name = &written[start..end];
            let path = match context.field(name) {
                Some(p) => p,
                None if context.fields == crate::Fields::Audit && name.starts_with("ka.") => {
                    return Err(format!(
                        "%{name}: not a Falco k8saudit field Periscope knows"
                    ));
                }
                None => crate::parse::path(name, start).map_err(|e| e.message)?,
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Field(paths.len()));
            paths.push(path);
            i = end;
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts, paths })
    }

    /// The text for the template engine: reference N as
    /// `{{ $labels.__field<first + N> }}`.
    pub fn template(&self, first: usize) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Field(n) => format!("{{{{ $labels.{} }}}}", field_label(first + n)),
            })
            .collect()
    }

    /// Whether it references no field.
    pub fn is_plain(&self) -> bool {
        self.paths.is_empty()
    }

    /// Each referenced field of `document` as kube-events prints it
    /// (`<nil>` when missing; several values joined by commas).
    pub fn values(&self, document: &Value) -> Vec<String> {
        self.paths
            .iter()
            .map(|p| {
                let found = values(p, document);
                if found.is_empty() {
                    "<nil>".to_string()
                } else {
                    found.iter().map(|v| text(v)).collect::<Vec<_>>().join(",")
                }
            })
            .collect()
    }

    /// The text with `values` (from [`FieldRefs::values`]) in place.
    pub fn fill(&self, values: &[String]) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Field(n) => values.get(*n).map_or("", String::as_str),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_taken_out_and_filled_as_kube_events_prints_them() {
        let context = Context::default();
        let r = FieldRefs::parse(
            "%involvedObject.name: %message. ({{ printf \"%.0f\" $value }}, %missing)",
            &context,
        )
        .unwrap();
        assert_eq!(r.paths.len(), 3);
        assert_eq!(
            r.template(0),
            "{{ $labels.__field0 }}: {{ $labels.__field1 }}. ({{ printf \"%.0f\" $value }}, {{ $labels.__field2 }})"
        );
        assert!(r.template(3).starts_with("{{ $labels.__field3 }}"));
        let doc = json!({"involvedObject": {"name": "web-1"}, "message": "Back-off {{ x }}"});
        let values = r.values(&doc);
        assert_eq!(values, ["web-1", "Back-off {{ x }}", "<nil>"]);
        assert_eq!(
            r.fill(&values),
            "web-1: Back-off {{ x }}. ({{ printf \"%.0f\" $value }}, <nil>)"
        );
        let audit = Context {
            fields: crate::Fields::Audit,
            ..Default::default()
        };
        let r = FieldRefs::parse("%ka.user.name in %ka.user.groups", &audit).unwrap();
        let doc = json!({"User": {"username": "carol", "groups": ["a", "b"]}});
        assert_eq!(r.fill(&r.values(&doc)), "carol in a,b");
        assert!(FieldRefs::parse("100% sure", &context).unwrap().is_plain());
    }
}
