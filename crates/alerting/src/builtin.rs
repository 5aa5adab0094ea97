//! The rule groups in `alert-rules/`, shipped in the binary.

use crate::records::RecordGroupSource;
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

/// `(file name, text)` of the built-in event and audit rule groups
/// (`alert-rules/records/`).
pub const BUILTIN_RECORD_RULE_FILES: &[(&str, &str)] = &[
    (
        "kube-events.yaml",
        include_str!("../../../alert-rules/records/kube-events.yaml"),
    ),
    (
        "audit.yaml",
        include_str!("../../../alert-rules/records/audit.yaml"),
    ),
];

/// The built-in event and audit groups whose file names `enabled` accepts
/// (tested to be valid).
pub fn builtin_record_groups(enabled: impl Fn(&str) -> bool) -> Vec<RecordGroupSource> {
    BUILTIN_RECORD_RULE_FILES
        .iter()
        .filter(|(name, _)| enabled(name))
        .map(|(name, text)| RecordGroupSource {
            source: format!("builtin:{name}"),
            tenant: None,
            group: periscope_record_rules::parse_group(text, None)
                .unwrap_or_else(|e| panic!("built-in record rules {name} are invalid: {e}")),
        })
        .collect()
}
