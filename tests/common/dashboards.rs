//! Grafana dashboards of `dashboards/`, read as Grafana would: their variables
//! and the interpolation of `$name` and `${name}`.

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;

pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

pub fn dashboards() -> Vec<Dashboard> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards");
    let mut out: Vec<Dashboard> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| Dashboard {
            file: p.file_name().unwrap().to_string_lossy().into_owned(),
            json: serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Replaces `$name` and `${name}` of the given variables (leaving e.g. the
/// `$1` of `label_replace` alone), as Grafana interpolates.
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let pattern = Regex::new(r"\$\{(\w+)\}|\$(\w+)").unwrap();
    pattern
        .replace_all(text, |c: &regex::Captures| {
            let name = c.get(1).or_else(|| c.get(2)).unwrap().as_str();
            vars.get(name).cloned().unwrap_or_else(|| c[0].to_string())
        })
        .into_owned()
}

pub fn variables(d: &Dashboard) -> Vec<&Value> {
    d.json["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .collect()
}

/// Whether a dashboard reads the span metrics Periscope generates (checked
/// where spans are ingested, `tests/span_metrics.rs`).
pub fn reads_span_metrics(d: &Dashboard) -> bool {
    d.json["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == "traces"))
}
