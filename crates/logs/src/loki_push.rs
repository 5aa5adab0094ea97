//! Loki's push API bodies (`POST /loki/api/v1/push`, grafana/loki
//! `pkg/loghttp/push/push.go`): JSON
//! (`{"streams":[{"stream":{..},"values":[["<ns>","line",{metadata}?]]}]}`)
//! or a snappy-block-compressed protobuf `logproto.PushRequest`
//! (`pkg/push/push.proto`) whose stream labels are Prometheus' text form
//! (`{namespace="a", pod="b"}`). Each entry becomes a log line: the
//! `namespace`, `pod`, `container` labels (or Loki's Kubernetes aliases
//! `k8s_namespace_name`, `namespace_name`, ...) are the pod fields, other
//! labels and the structured metadata are kept as fields.

use crate::record::LogRecord;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPair>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    stream: BTreeMap<String, String>,
    values: Vec<Vec<Value>>,
}

/// The pod fields and the labels that stand for them.
const POD_LABELS: [(&str, &[&str]); 3] = [
    (
        "namespace_name",
        &["namespace", "k8s_namespace_name", "namespace_name"],
    ),
    ("pod_name", &["pod", "k8s_pod_name", "pod_name"]),
    (
        "container_name",
        &["container", "k8s_container_name", "container_name"],
    ),
];

/// One entry as the document the other ingest paths read.
fn record(
    labels: &BTreeMap<String, String>,
    time: i64,
    line: &str,
    metadata: Map<String, Value>,
    now: i64,
) -> Result<LogRecord, String> {
    let mut fields: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut kubernetes = Map::new();
    for (field, names) in POD_LABELS {
        let value = names.iter().find_map(|n| fields.remove(*n));
        kubernetes.insert(field.into(), value.unwrap_or(Value::String(String::new())));
    }
    fields.extend(metadata);
    let mut document = Map::new();
    document.insert("time".into(), json!(crate::format_time(time)));
    document.insert("log".into(), json!(line));
    document.insert("kubernetes".into(), Value::Object(kubernetes));
    for (k, v) in fields {
        document.entry(k).or_insert(v);
    }
    let bytes = serde_json::to_vec(&Value::Object(document)).map_err(|e| e.to_string())?;
    LogRecord::from_json(&bytes, now).map_err(|e| e.0)
}

/// The lines of a JSON push body.
pub fn from_json(body: &[u8], now: i64) -> Result<Vec<LogRecord>, String> {
    let push: JsonPush = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not a Loki push request: {e}"))?;
    let mut out = Vec::new();
    for (s, stream) in push.streams.iter().enumerate() {
        for (e, value) in stream.values.iter().enumerate() {
            let at = || format!("streams[{s}].values[{e}]");
            let time = value
                .first()
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| format!("{}: the time is a string of Unix nanoseconds", at()))?;
            let line = value
                .get(1)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{}: the line is a string", at()))?;
            let metadata = match value.get(2) {
                None => Map::new(),
                Some(Value::Object(m)) => match m.get("structuredMetadata") {
                    Some(Value::Object(inner)) => inner.clone(),
                    _ => m.clone(),
                },
                Some(_) => return Err(format!("{}: structured metadata is an object", at())),
            };
            out.push(
                record(&stream.stream, time, line, metadata, now)
                    .map_err(|r| format!("{}: {r}", at()))?,
            );
        }
    }
    Ok(out)
}

/// The lines of a snappy-compressed protobuf push body.
pub fn from_protobuf(body: &[u8], now: i64, max_bytes: usize) -> Result<Vec<LogRecord>, String> {
    let length = snap::raw::decompress_len(body)
        .map_err(|e| format!("the body is not snappy-compressed: {e}"))?;
    if length > max_bytes {
        return Err(format!(
            "the body inflates to {length} bytes, more than the {max_bytes} allowed"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("the body is not snappy-compressed: {e}"))?;
    let push = <PushRequest as prost::Message>::decode(&raw[..])
        .map_err(|e| format!("the body is not a logproto.PushRequest: {e}"))?;
    let mut out = Vec::new();
    for (s, stream) in push.streams.iter().enumerate() {
        let labels =
            parse_labels(&stream.labels).map_err(|e| format!("streams[{s}].labels: {e}"))?;
        for (e, entry) in stream.entries.iter().enumerate() {
            let time = entry
                .timestamp
                .as_ref()
                .map_or(now, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos));
            let metadata = entry
                .structured_metadata
                .iter()
                .map(|p| (p.name.clone(), Value::String(p.value.clone())))
                .collect();
            out.push(
                record(&labels, time, &entry.line, metadata, now)
                    .map_err(|r| format!("streams[{s}].entries[{e}]: {r}"))?,
            );
        }
    }
    Ok(out)
}

/// Prometheus' text form of a label set: `{a="b", c="d\"e"}`.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("{text:?} is not a {{label=\"value\", ...}} set"))?;
    let mut out = BTreeMap::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("{text:?}: a label without a value"))?;
        let name = rest[..eq].trim();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("{text:?}: {name:?} is not a label name"));
        }
        let value_text = rest[eq + 1..].trim_start();
        let mut chars = value_text.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("{text:?}: the value of {name} is not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                other => value.push(other),
            }
        }
        let end = end.ok_or_else(|| format!("{text:?}: the value of {name} is not closed"))?;
        out.insert(name.to_string(), value);
        rest = value_text[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_parse_as_prometheus_writes_them() {
        let labels =
            parse_labels(r#"{namespace="team-a", pod="web-1",msg="say \"hi\"\n"}"#).unwrap();
        assert_eq!(labels["namespace"], "team-a");
        assert_eq!(labels["pod"], "web-1");
        assert_eq!(labels["msg"], "say \"hi\"\n");
        assert!(parse_labels("{}").unwrap().is_empty());
        for bad in ["namespace=\"a\"", "{1a=\"b\"}", "{a=b}", "{a=\"b}"] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_and_protobuf_pushes_become_the_same_lines() {
        // The JSON example of Loki's HTTP API documentation, with metadata.
        let json = br#"{"streams":[{"stream":{"k8s_namespace_name":"team-a","pod":"web-1","container":"web","app":"shop"},
            "values":[["1796032800000000000","GET /cart 500",{"trace_id":"0af7651916cd43dd8448eb211c80319c"}],
                      ["1796032800000000001","GET /cart 200"]]}]}"#;
        let from_json = from_json(json, 0).unwrap();
        let push = PushRequest {
            streams: vec![StreamAdapter {
                labels:
                    r#"{app="shop", container="web", k8s_namespace_name="team-a", pod="web-1"}"#
                        .into(),
                entries: vec![
                    EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: 1_796_032_800,
                            nanos: 0,
                        }),
                        line: "GET /cart 500".into(),
                        structured_metadata: vec![LabelPair {
                            name: "trace_id".into(),
                            value: "0af7651916cd43dd8448eb211c80319c".into(),
                        }],
                    },
                    EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: 1_796_032_800,
                            nanos: 1,
                        }),
                        line: "GET /cart 200".into(),
                        structured_metadata: vec![],
                    },
                ],
                hash: 0,
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&push))
            .unwrap();
        let from_protobuf = from_protobuf(&body, 0, 1 << 20).unwrap();
        assert_eq!(from_json, from_protobuf);
        let r = &from_json[0];
        assert_eq!(
            (r.namespace.as_str(), r.pod.as_str(), r.container.as_str()),
            ("team-a", "web-1", "web")
        );
        assert_eq!(r.time, 1_796_032_800_000_000_000);
        let fields: Value = serde_json::from_str(r.fields.as_deref().unwrap()).unwrap();
        assert_eq!(
            fields,
            json!({"app": "shop", "trace_id": "0af7651916cd43dd8448eb211c80319c"})
        );
        let e =
            super::from_json(br#"{"streams":[{"stream":{},"values":[[1,"x"]]}]}"#, 0).unwrap_err();
        assert!(
            e.contains("streams[0].values[0]: the time is a string"),
            "{e}"
        );
        assert!(super::from_protobuf(b"not snappy", 0, 1 << 20).is_err());
    }
}
