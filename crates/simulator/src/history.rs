//! Past data of the simulated exporters in OpenMetrics text, the input of
//! `promtool tsdb create-blocks-from openmetrics`, so a Prometheus can start
//! with history (and tests can query fixed, known times).

use crate::{render, Cluster, Exporter};
use std::collections::HashMap;
use std::fmt::Write;

/// A metric family's name and its series (in first-seen order), each with its
/// samples `(time, value)`.
type Family = (String, Vec<(String, Vec<(i64, String)>)>);

/// Every exporter's exposition at `start`, `start + step`, ... up to `end`
/// (Unix seconds), with counters started at `origin`, labelled as Prometheus
/// labels what it scrapes with `honor_labels`: each series gets its
/// exporter's `job`, and `instance` (the scrape target's address, e.g. the
/// simulator's) unless it has its own. Live scrapes of the same simulator then
/// continue exactly these series.
pub fn openmetrics_history(
    cluster: &Cluster,
    instance: &str,
    origin: i64,
    start: i64,
    end: i64,
    step: i64,
) -> String {
    let step = step.max(1);
    let mut families: Vec<Family> = Vec::new();
    let mut family_index: HashMap<String, usize> = HashMap::new();
    let mut series_index: HashMap<String, (usize, usize)> = HashMap::new();
    for exporter in Exporter::ALL {
        let job = exporter.job();
        let mut t = start;
        while t <= end {
            let text = render(cluster, exporter, origin as f64, t as f64);
            let mut family = 0;
            for line in text.lines() {
                if let Some(name) = line.strip_prefix("# TYPE ") {
                    let name = name.split(' ').next().unwrap_or_default().to_string();
                    family = *family_index.entry(name.clone()).or_insert_with(|| {
                        families.push((name, Vec::new()));
                        families.len() - 1
                    });
                    continue;
                }
                if line.starts_with('#') || line.is_empty() {
                    continue;
                }
                let Some((series, value)) = line.rsplit_once(' ') else {
                    continue;
                };
                let labelled = with_target_labels(series, job, instance);
                let (f, s) = *series_index.entry(labelled.clone()).or_insert_with(|| {
                    families[family].1.push((labelled, Vec::new()));
                    (family, families[family].1.len() - 1)
                });
                families[f].1[s].1.push((t, value.to_string()));
            }
            t += step;
        }
    }
    let mut out = String::new();
    for (name, series) in &families {
        let _ = writeln!(out, "# TYPE {name} unknown");
        for (labels, samples) in series {
            for (t, v) in samples {
                let _ = writeln!(out, "{labels} {v} {t}");
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// `name{a="b"}` → `name{job="j",instance="i",a="b"}` (`instance` only when
/// the series has none).
fn with_target_labels(series: &str, job: &str, instance: &str) -> String {
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.trim_end_matches('}')),
        None => (series, ""),
    };
    let has_instance = labels.starts_with("instance=") || labels.contains(",instance=");
    let mut out = format!("{name}{{job=\"{job}\"");
    if !has_instance {
        out.push_str(&format!(",instance=\"{instance}\""));
    }
    if !labels.is_empty() {
        out.push(',');
        out.push_str(labels);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterSpec;

    #[test]
    fn history_groups_series_by_family_and_labels_the_job() {
        let cluster = Cluster::generate(&ClusterSpec::default());
        let text = openmetrics_history(&cluster, "sim:9500", 1_000, 1_000, 1_060, 30);
        assert!(text.ends_with("# EOF\n"));
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let distinct: std::collections::HashSet<&str> =
            text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        assert_eq!(types, distinct.len(), "a family appears twice");
        let node_1_load: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("node_load15{job=\"node-exporter\",instance=\"node-1\"}"))
            .collect();
        assert_eq!(node_1_load.len(), 3, "{node_1_load:?}");
        assert!(node_1_load[2].ends_with(" 1060"));
        assert!(text.contains(
            "container_cpu_usage_seconds_total{job=\"kubelet\",instance=\"sim:9500\",container="
        ));
        assert!(text.contains("kube_pod_info{job=\"kube-state-metrics\",instance=\"sim:9500\","));
        assert!(!text.contains("instance=\"sim:9500\",instance="));
    }
}
