//! A log line as shippers send it, mapped to Periscope's fields.
//!
//! Fluent Bit's Kubernetes filter nests pod metadata under `kubernetes`
//! (`namespace_name`, `pod_name`, `container_name`, `docker_id`,
//! `container_image`); KubeSphere's pipeline lifts it to `kubernetes_*`
//! keys, and some shippers flatten it to `kubernetes.namespace_name`. All
//! three are read. Time comes from `@timestamp` or `time` (RFC 3339, or
//! Unix seconds as a number). Every other field is kept as JSON.

use crate::raw::{kind, write_object, Document};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One log line with its pod metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Unix nanoseconds.
    pub time: i64,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub docker_id: String,
    pub image: String,
    pub log: String,
    /// The document's other fields, as a JSON object (absent when none).
    pub fields: Option<String>,
}

/// Why a document was not accepted (reported for that document only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError(pub String);

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const POD_FIELDS: [&str; 5] = [
    "namespace_name",
    "pod_name",
    "container_name",
    "docker_id",
    "container_image",
];

impl LogRecord {
    /// Maps a shipper's document (one JSON object). `now` (Unix ns) is used
    /// when it has no time.
    pub fn from_json(document: &[u8], now: i64) -> Result<LogRecord, DocumentError> {
        let Document {
            members,
            kubernetes,
        } = serde_json::from_slice(document).map_err(|e| {
            DocumentError(if e.is_data() {
                "the document is not a JSON object".to_string()
            } else {
                format!("failed to parse the document: {e}")
            })
        })?;
        let mut time: Option<(bool, &RawValue)> = None;
        let mut log: Option<(bool, &RawValue)> = None;
        let mut pod: [Option<String>; 5] = Default::default();
        let mut rest: Vec<(Cow<'_, str>, &RawValue)> = Vec::with_capacity(members.len());
        let mut kubernetes_rest = String::new();
        for (key, value) in members {
            match key.as_ref() {
                // `@timestamp` wins over `time`; the one not used is kept.
                "@timestamp" => {
                    if let Some((false, t)) = time.replace((true, value)) {
                        rest.push((Cow::Borrowed("time"), t));
                    }
                }
                "time" if matches!(time, Some((true, _))) => rest.push((key, value)),
                "time" => time = Some((false, value)),
                "log" => {
                    if let Some((false, m)) = log.replace((true, value)) {
                        rest.push((Cow::Borrowed("message"), m));
                    }
                }
                "message" if matches!(log, Some((true, _))) => rest.push((key, value)),
                "message" => log = Some((false, value)),
                other => {
                    let flat = other
                        .strip_prefix("kubernetes.")
                        .or_else(|| other.strip_prefix("kubernetes_"))
                        .and_then(|f| POD_FIELDS.iter().position(|p| *p == f));
                    match flat {
                        Some(i) => pod[i] = Some(string_field(|| other.to_string(), value)?),
                        None => rest.push((key, value)),
                    }
                }
            }
        }
        match kubernetes {
            None => {}
            Some(Err(found)) => {
                return Err(DocumentError(format!(
                    "field [kubernetes] must be an object, found {found}"
                )))
            }
            Some(Ok(k)) => {
                let mut others = Vec::new();
                for (name, v) in k {
                    match POD_FIELDS.iter().position(|f| *f == name.as_ref()) {
                        Some(i) => pod[i] = Some(string_field(|| format!("kubernetes.{name}"), v)?),
                        None => others.push((name, v)),
                    }
                }
                if !others.is_empty() {
                    write_object(&mut kubernetes_rest, &others);
                }
            }
        }
        let time = match time {
            None => now,
            Some((_, raw)) => parse_time(raw)?,
        };
        let log = match log {
            None => {
                return Err(DocumentError(
                    "document has no [log] or [message] field".into(),
                ))
            }
            Some((_, raw)) => string_field(|| "log".to_string(), raw)?,
        };
        let fields = if rest.is_empty() && kubernetes_rest.is_empty() {
            None
        } else {
            let mut out = String::with_capacity(64);
            write_object(&mut out, &rest);
            if !kubernetes_rest.is_empty() {
                out.pop();
                if !rest.is_empty() {
                    out.push(',');
                }
                out.push_str("\"kubernetes\":");
                out.push_str(&kubernetes_rest);
                out.push('}');
            }
            Some(out)
        };
        let [namespace, pod_name, container, docker_id, image] = pod.map(Option::unwrap_or_default);
        Ok(LogRecord {
            time,
            namespace,
            pod: pod_name,
            container,
            docker_id,
            image,
            log,
            fields,
        })
    }
}

/// A string member's value; `name` (built only for a message) names it.
fn string_field(name: impl Fn() -> String, v: &RawValue) -> Result<String, DocumentError> {
    let text = v.get();
    if !text.starts_with('"') {
        return Err(DocumentError(format!(
            "field [{}] must be a string, found {}",
            name(),
            kind(v)
        )));
    }
    // Most values have no escapes: take the text between the quotes.
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        return Ok(inner.to_string());
    }
    serde_json::from_str(text).map_err(|e| DocumentError(format!("field [{}]: {e}", name())))
}

/// RFC 3339 text, or Unix seconds (fractions allowed) as a number.
fn parse_time(v: &RawValue) -> Result<i64, DocumentError> {
    let text = v.get();
    let bad = || {
        DocumentError(format!(
            "failed to parse the time {text}: expected RFC 3339 or Unix seconds"
        ))
    };
    if text.starts_with('"') {
        let s: Cow<'_, str> = serde_json::from_str(text).map_err(|_| bad())?;
        return crate::parse_rfc3339(&s).ok_or_else(bad);
    }
    let seconds: f64 = text.parse().map_err(|_| bad())?;
    if !(0.0..9.0e9).contains(&seconds) {
        return Err(bad());
    }
    Ok((seconds * 1e9).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn map(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    /// A document as Fluent Bit's `es` output sends it after the Kubernetes filter.
    #[test]
    fn a_fluent_bit_document_maps_to_its_fields() {
        let doc = json!({
            "@timestamp": "2026-11-26T10:00:00.123Z",
            "log": "GET /healthz 200\n",
            "stream": "stdout",
            "time": "2026-11-26T10:00:00.123456789Z",
            "kubernetes": {
                "pod_name": "web-7d9c8b6f5d-x2k4q",
                "namespace_name": "shop",
                "container_name": "web",
                "docker_id": "4f0c",
                "container_image": "nginx:1.27",
                "host": "node-1"
            }
        });
        let r = LogRecord::from_json(&map(doc), 0).unwrap();
        assert_eq!(r.time, 1_795_687_200_123_000_000);
        assert_eq!(
            (r.namespace.as_str(), r.pod.as_str(), r.container.as_str()),
            ("shop", "web-7d9c8b6f5d-x2k4q", "web")
        );
        assert_eq!(
            (r.docker_id.as_str(), r.image.as_str()),
            ("4f0c", "nginx:1.27")
        );
        assert_eq!(r.log, "GET /healthz 200\n");
        let fields: Value = serde_json::from_str(r.fields.as_deref().unwrap()).unwrap();
        assert_eq!(
            fields,
            json!({"stream": "stdout", "time": "2026-11-26T10:00:00.123456789Z", "kubernetes": {"host": "node-1"}})
        );
    }

    #[test]
    fn lifted_and_dotted_keys_and_numeric_times() {
        let lifted = json!({"time": 1.5, "log": "x", "kubernetes_namespace_name": "a", "kubernetes.pod_name": "p"});
        let r = LogRecord::from_json(&map(lifted), 0).unwrap();
        assert_eq!(
            (r.time, r.namespace.as_str(), r.pod.as_str(), r.fields),
            (1_500_000_000, "a", "p", None)
        );
        let untimed = LogRecord::from_json(&map(json!({"message": "m"})), 42).unwrap();
        assert_eq!((untimed.time, untimed.log.as_str()), (42, "m"));
    }

    #[test]
    fn bad_documents_say_why() {
        for (doc, expected) in [
            (
                json!({"time": "yesterday", "log": "x"}),
                "failed to parse the time",
            ),
            (json!({"log": 3}), "field [log] must be a string"),
            (json!({"stream": "stdout"}), "no [log] or [message]"),
            (
                json!({"log": "x", "kubernetes": "shop"}),
                "[kubernetes] must be an object",
            ),
            (
                json!({"log": "x", "kubernetes": {"namespace_name": 1}}),
                "[kubernetes.namespace_name] must be a string",
            ),
            (json!({"log": "x", "time": -5}), "failed to parse the time"),
        ] {
            let e = LogRecord::from_json(&map(doc.clone()), 0).unwrap_err();
            assert!(e.0.contains(expected), "{doc}: {e}");
        }
    }
}
