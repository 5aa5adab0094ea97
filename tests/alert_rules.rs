//! The built-in rules in `alert-rules/`: valid for the real `promtool check
//! rules`, their unit tests pass `promtool test rules`, every alert has its
//! annotations and a test where it fires, Periscope's own loader accepts them,
//! and Periscope's template engine expands their annotations exactly as
//! Prometheus does (compared with the expectations promtool verified).

use periscope_alerting::{builtin_groups, Rule, TemplateData, BUILTIN_RULE_FILES};
use periscope_sandbox::find_binary;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("alert-rules")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn promtool(args: &[&str], files: &[PathBuf]) -> String {
    let promtool = find_binary("promtool", "PERISCOPE_PROMTOOL_BIN").expect("promtool installed");
    let output = Command::new(promtool)
        .args(args)
        .args(files)
        .current_dir(rules_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let rules = yaml_files(&rules_dir());
    assert!(rules.len() >= 5);
    let checked = promtool(&["check", "rules"], &rules);
    assert_eq!(checked.matches("SUCCESS").count(), rules.len(), "{checked}");
    let tests = yaml_files(&rules_dir().join("tests"));
    let tested = promtool(&["test", "rules"], &tests);
    assert_eq!(tested.matches("SUCCESS").count(), tests.len(), "{tested}");
}

#[test]
fn every_file_is_built_in_and_every_alert_is_annotated() {
    let on_disk: BTreeSet<String> = yaml_files(&rules_dir())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let built_in: BTreeSet<String> = BUILTIN_RULE_FILES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        on_disk, built_in,
        "alert-rules/ and BUILTIN_RULE_FILES differ"
    );
    let groups = builtin_groups();
    let mut alerts = 0;
    for group in &groups {
        for rule in &group.rules {
            let Rule::Alerting(a) = rule else { continue };
            alerts += 1;
            for key in ["summary", "description", "runbook_url"] {
                assert!(a.annotations.contains_key(key), "{} has no {key}", a.name);
            }
            assert!(
                a.labels.contains_key("severity"),
                "{} has no severity",
                a.name
            );
        }
    }
    assert!(alerts >= 20, "{alerts}");
}

/// An expected alert of a promtool test: alert name, labels, annotations.
type Expected = (String, BTreeMap<String, String>, BTreeMap<String, String>);

/// Every `alert_rule_test` entry with expected alerts, from every test file.
fn expectations() -> Vec<Expected> {
    let mut out = Vec::new();
    for file in yaml_files(&rules_dir().join("tests")) {
        let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let map = |v: &Value| -> BTreeMap<String, String> {
            v.as_mapping()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let v = match v {
                                Value::String(s) => s.clone(),
                                other => {
                                    serde_yaml_ng::to_string(other).unwrap().trim().to_string()
                                }
                            };
                            (k.as_str().unwrap().to_string(), v)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        for test in doc["tests"].as_sequence().unwrap() {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                for alert in case["exp_alerts"].as_sequence().into_iter().flatten() {
                    out.push((
                        name.clone(),
                        map(&alert["exp_labels"]),
                        map(&alert["exp_annotations"]),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_alert_fires_in_a_unit_test() {
    let tested: BTreeSet<String> = expectations().into_iter().map(|(n, _, _)| n).collect();
    for group in builtin_groups() {
        for rule in &group.rules {
            if let Rule::Alerting(a) = rule {
                assert!(
                    tested.contains(&a.name),
                    "{} never fires in alert-rules/tests",
                    a.name
                );
            }
        }
    }
}

#[test]
fn periscope_expands_annotations_as_prometheus_does() {
    let rules: BTreeMap<String, periscope_alerting::AlertingRule> = builtin_groups()
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| match r {
            Rule::Alerting(a) => Some((a.name.clone(), a)),
            Rule::Recording(_) => None,
        })
        .collect();
    let mut compared = 0;
    for (name, labels, annotations) in expectations() {
        let rule = &rules[&name];
        for (key, expected) in annotations {
            let template = &rule.annotations[&key];
            // $value is not in the test files; compare the others exactly.
            if template.to_string().contains("$value") {
                continue;
            }
            let got = template.expand(&TemplateData {
                labels: Some(&labels),
                external_labels: None,
                external_url: "",
                value: 0.0,
            });
            assert_eq!(got, expected, "{name}.{key}");
            compared += 1;
        }
    }
    assert!(compared >= 40, "{compared}");
}
