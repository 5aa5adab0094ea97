//! The rule groups in `alert-rules/`, shipped in the binary.

use crate::rules::{parse_rule_file, RuleGroup};

/// `(file name, text)` of every built-in rule file.
pub const BUILTIN_RULE_FILES: &[(&str, &str)] = &[
    (
        "nodes.yaml",
        include_str!("../../../alert-rules/nodes.yaml"),
    ),
    ("pods.yaml", include_str!("../../../alert-rules/pods.yaml")),
    (
        "workloads.yaml",
        include_str!("../../../alert-rules/workloads.yaml"),
    ),
    (
        "storage.yaml",
        include_str!("../../../alert-rules/storage.yaml"),
    ),
    (
        "control-plane.yaml",
        include_str!("../../../alert-rules/control-plane.yaml"),
    ),
];

/// Every built-in group, validated (tested to be valid).
pub fn builtin_groups() -> Vec<RuleGroup> {
    BUILTIN_RULE_FILES
        .iter()
        .flat_map(|(name, text)| {
            parse_rule_file(&format!("builtin:{name}"), text)
                .unwrap_or_else(|e| panic!("built-in rules are invalid: {e}"))
        })
        .collect()
}
