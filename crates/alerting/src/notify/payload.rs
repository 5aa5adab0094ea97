//! Alertmanager's webhook message (version 4), built exactly as Alertmanager
//! builds it: fingerprints, group key, common labels, zeroed `endsAt` of
//! firing alerts, alerts in label order.

use crate::state::Labels;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// An alert as the notification pipeline holds it. Times are Unix ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineAlert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub generator_url: String,
}

impl PipelineAlert {
    /// Resolved at `now`: its end is in the past.
    pub fn resolved(&self, now: i64) -> bool {
        self.ends_at != 0 && self.ends_at <= now
    }
}

/// Prometheus' label-set fingerprint (FNV-1a over sorted names and values,
/// each followed by 0xff), as 16 hex digits.
pub fn fingerprint(labels: &Labels) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    if labels.is_empty() {
        return format!("{OFFSET:016x}");
    }
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

/// Go's `LabelSet.String()`: `{a="1", b="2"}`.
pub fn label_set_string(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Go's `LabelSet.Before`: fewer labels first, then by sorted names/values.
fn before(a: &Labels, b: &Labels) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for n in names {
            match (a.get(n), b.get(n)) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
        Ordering::Equal
    })
}

/// Go's RFC 3339 with nanoseconds, trailing zeros trimmed (how Alertmanager
/// writes times); 0 is the zero time.
pub fn go_time(ms: i64) -> String {
    if ms == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    let full = crate::format::rfc3339_ms(ms);
    let base = full.trim_end_matches('Z');
    let (head, millis) = base.split_at(base.len() - 3);
    let millis = millis.trim_end_matches('0');
    if millis.is_empty() {
        format!("{}Z", head.trim_end_matches('.'))
    } else {
        format!("{head}{millis}Z")
    }
}

/// The webhook body for a flush of a group.
pub fn webhook_message(
    receiver: &str,
    group_key: &str,
    group_labels: &Labels,
    mut alerts: Vec<PipelineAlert>,
    now: i64,
    external_url: &str,
    max_alerts: usize,
) -> serde_json::Value {
    alerts.sort_by(|a, b| before(&a.labels, &b.labels));
    let firing = alerts.iter().any(|a| !a.resolved(now));
    let common = |pick: fn(&PipelineAlert) -> &BTreeMap<String, String>| {
        let mut iter = alerts.iter();
        let mut common: BTreeMap<String, String> =
            iter.next().map(|a| pick(a).clone()).unwrap_or_default();
        for a in iter {
            common.retain(|k, v| pick(a).get(k) == Some(v));
        }
        common
    };
    let common_labels = common(|a| &a.labels);
    let common_annotations = common(|a| &a.annotations);
    let truncated = if max_alerts > 0 && alerts.len() > max_alerts {
        alerts.len() - max_alerts
    } else {
        0
    };
    if truncated > 0 {
        alerts.truncate(max_alerts);
    }
    let items: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let resolved = a.resolved(now);
            serde_json::json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": go_time(a.starts_at),
                "endsAt": if resolved { go_time(a.ends_at) } else { go_time(0) },
                "generatorURL": a.generator_url,
                "fingerprint": fingerprint(&a.labels),
            })
        })
        .collect();
    serde_json::json!({
        "receiver": receiver,
        "status": if firing { "firing" } else { "resolved" },
        "alerts": items,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_label_strings_match_prometheus() {
        // model.LabelSet{"alertname": "X"}.Fingerprint() and String().
        let l = Labels::from([("alertname".to_string(), "X".to_string())]);
        assert_eq!(fingerprint(&l).len(), 16);
        assert_eq!(label_set_string(&l), "{alertname=\"X\"}");
        let two = Labels::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2\"".to_string()),
        ]);
        assert_eq!(label_set_string(&two), "{a=\"1\", b=\"2\\\"\"}");
        assert_eq!(fingerprint(&Labels::new()), "cbf29ce484222325");
    }

    #[test]
    fn times_are_written_like_go() {
        assert_eq!(go_time(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(go_time(1_700_000_000_120), "2023-11-14T22:13:20.12Z");
        assert_eq!(go_time(0), "0001-01-01T00:00:00Z");
    }
}
