//! A log line as shippers send it, mapped to Periscope's fields.
//!
//! Fluent Bit's Kubernetes filter nests pod metadata under `kubernetes`
//! (`namespace_name`, `pod_name`, `container_name`, `docker_id`,
//! `container_image`); KubeSphere's pipeline lifts it to `kubernetes_*`
//! keys, and some shippers flatten it to `kubernetes.namespace_name`. All
//! three are read. Time comes from `@timestamp` or `time` (RFC 3339, or
//! Unix seconds as a number). Every other field is kept as JSON.

use serde_json::{Map, Value};

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
    /// Maps a shipper's document. `now` (Unix ns) is used when it has no time.
    pub fn from_document(
        mut doc: Map<String, Value>,
        now: i64,
    ) -> Result<LogRecord, DocumentError> {
        let time = match doc.remove("@timestamp").or_else(|| doc.remove("time")) {
            None => now,
            Some(v) => parse_time(&v)?,
        };
        // Keep `time` when both were given (it is often the more precise one).
        let log = match doc.remove("log").or_else(|| doc.remove("message")) {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(DocumentError(format!(
                    "field [log] must be a string, found {}",
                    kind(&other)
                )))
            }
            None => {
                return Err(DocumentError(
                    "document has no [log] or [message] field".into(),
                ))
            }
        };
        let mut pod: [String; 5] = Default::default();
        let nested = match doc.remove("kubernetes") {
            Some(Value::Object(k)) => Some(k),
            None => None,
            Some(other) => {
                return Err(DocumentError(format!(
                    "field [kubernetes] must be an object, found {}",
                    kind(&other)
                )))
            }
        };
        let mut rest_of_kubernetes = Map::new();
        if let Some(mut k) = nested {
            for (i, name) in POD_FIELDS.iter().enumerate() {
                if let Some(v) = k.remove(*name) {
                    pod[i] = string_field(&format!("kubernetes.{name}"), v)?;
                }
            }
            rest_of_kubernetes = k;
        }
        for (i, name) in POD_FIELDS.iter().enumerate() {
            for key in [format!("kubernetes.{name}"), format!("kubernetes_{name}")] {
                if let Some(v) = doc.remove(&key) {
                    pod[i] = string_field(&key, v)?;
                }
            }
        }
        if !rest_of_kubernetes.is_empty() {
            doc.insert("kubernetes".into(), Value::Object(rest_of_kubernetes));
        }
        let [namespace, pod_name, container, docker_id, image] = pod;
        Ok(LogRecord {
            time,
            namespace,
            pod: pod_name,
            container,
            docker_id,
            image,
            log,
            fields: (!doc.is_empty()).then(|| Value::Object(doc).to_string()),
        })
    }
}

fn string_field(name: &str, v: Value) -> Result<String, DocumentError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(DocumentError(format!(
            "field [{name}] must be a string, found {}",
            kind(&other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// RFC 3339 text, or Unix seconds (fractions allowed) as a number.
fn parse_time(v: &Value) -> Result<i64, DocumentError> {
    let bad = || {
        DocumentError(format!(
            "failed to parse the time {v}: expected RFC 3339 or Unix seconds"
        ))
    };
    match v {
        Value::String(s) => crate::parse_rfc3339(s).ok_or_else(bad),
        Value::Number(n) => {
            let seconds = n.as_f64().ok_or_else(bad)?;
            if !(0.0..9.0e9).contains(&seconds) {
                return Err(bad());
            }
            Ok((seconds * 1e9).round() as i64)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
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
        let r = LogRecord::from_document(map(doc), 0).unwrap();
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
        let r = LogRecord::from_document(map(lifted), 0).unwrap();
        assert_eq!(
            (r.time, r.namespace.as_str(), r.pod.as_str(), r.fields),
            (1_500_000_000, "a", "p", None)
        );
        let untimed = LogRecord::from_document(map(json!({"message": "m"})), 42).unwrap();
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
            let e = LogRecord::from_document(map(doc.clone()), 0).unwrap_err();
            assert!(e.0.contains(expected), "{doc}: {e}");
        }
    }
}
