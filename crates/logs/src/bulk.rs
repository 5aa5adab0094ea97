//! Elasticsearch's `_bulk` format, as Fluent Bit's `es` output (and other
//! shippers) send it: NDJSON pairs of an action line (`index` or `create`)
//! and a document line. A bad document fails that item only; a bad action
//! line makes the request unreadable (as in Elasticsearch), so nothing of it
//! is stored.

use crate::record::{DocumentError, LogRecord};
use serde_json::{json, Map, Value};

/// One action of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItem {
    /// `index` or `create`.
    pub action: String,
    pub index: Option<String>,
    pub id: Option<String>,
    pub outcome: Result<LogRecord, DocumentError>,
}

/// Parses a bulk body; `default_index` comes from the path (`/{index}/_bulk`),
/// `now` (Unix ns) times documents without one.
pub fn parse_bulk(
    body: &[u8],
    default_index: Option<&str>,
    now: i64,
) -> Result<Vec<BulkItem>, String> {
    let mut items = Vec::new();
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    while let Some((number, line)) = lines.next() {
        let action: Map<String, Value> = serde_json::from_slice(line).map_err(|e| {
            format!("Malformed action/metadata line [{number}], expected START_OBJECT: {e}")
        })?;
        let (name, meta) = match action.iter().next() {
            Some((name, Value::Object(meta))) if action.len() == 1 => (name.clone(), meta.clone()),
            _ => {
                return Err(format!(
                "Malformed action/metadata line [{number}], expected one action with its metadata"
            ))
            }
        };
        let text = |key: &str| meta.get(key).and_then(Value::as_str).map(str::to_string);
        let index = text("_index").or_else(|| default_index.map(str::to_string));
        let id = text("_id");
        let outcome = match name.as_str() {
            "index" | "create" => match lines.next() {
                None => {
                    return Err(format!(
                        "the action on line [{number}] has no document line"
                    ))
                }
                Some((_, doc)) => match serde_json::from_slice::<Value>(doc) {
                    Ok(Value::Object(doc)) => LogRecord::from_document(doc, now),
                    Ok(_) => Err(DocumentError("the document is not a JSON object".into())),
                    Err(e) => Err(DocumentError(format!("failed to parse the document: {e}"))),
                },
            },
            "update" => {
                lines.next();
                Err(DocumentError(
                    "update is not supported: log lines are append-only".into(),
                ))
            }
            "delete" => Err(DocumentError(
                "delete is not supported: log lines are append-only".into(),
            )),
            other => {
                return Err(format!(
                    "Malformed action/metadata line [{number}], unknown action [{other}]"
                ))
            }
        };
        items.push(BulkItem {
            action: name,
            index,
            id,
            outcome,
        });
    }
    Ok(items)
}

/// Elasticsearch's bulk response. `ids` are the ids given to stored items,
/// in item order (a given `_id` is echoed).
pub fn bulk_response(
    items: &[BulkItem],
    took_ms: u64,
    mut generated_id: impl FnMut() -> String,
) -> Value {
    let mut errors = false;
    let items: Vec<Value> = items
        .iter()
        .map(|item| {
            let id = item.id.clone().unwrap_or_else(&mut generated_id);
            let mut body = json!({"_index": item.index.clone().unwrap_or_default(), "_id": id});
            match &item.outcome {
                Ok(_) => {
                    body["result"] = "created".into();
                    body["status"] = 201.into();
                    body["_version"] = 1.into();
                    body["_shards"] = json!({"total": 1, "successful": 1, "failed": 0});
                }
                Err(e) => {
                    errors = true;
                    let kind = if item.action == "index" || item.action == "create" {
                        "mapper_parsing_exception"
                    } else {
                        "action_request_validation_exception"
                    };
                    body["status"] = 400.into();
                    body["error"] = json!({"type": kind, "reason": e.0});
                }
            }
            json!({ item.action.clone(): body })
        })
        .collect();
    json!({"took": took_ms, "errors": errors, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two lines as Fluent Bit's `es` output sends them (`Suppress_Type_Name Off`).
    const FLUENT_BIT: &str = concat!(
        r#"{"index":{"_index":"ks-logstash-log-2026.11.26","_type":"_doc"}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-26T10:00:00.000Z","log":"hello\n","kubernetes":{"namespace_name":"shop","pod_name":"web-0","container_name":"web","docker_id":"d1","container_image":"nginx"}}"#,
        "\n",
        r#"{"create":{"_id":"fixed"}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-26T10:00:01.000Z","log":"world\n","kubernetes":{"namespace_name":"shop","pod_name":"web-0","container_name":"web"}}"#,
        "\n",
    );

    #[test]
    fn a_fluent_bit_body_parses_item_by_item() {
        let items = parse_bulk(FLUENT_BIT.as_bytes(), Some("path-index"), 0).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].index.as_deref(),
            Some("ks-logstash-log-2026.11.26")
        );
        assert_eq!(items[1].index.as_deref(), Some("path-index"));
        assert_eq!(items[1].id.as_deref(), Some("fixed"));
        assert_eq!(items[0].outcome.as_ref().unwrap().namespace, "shop");
        let mut n = 0;
        let response = bulk_response(&items, 3, || {
            n += 1;
            format!("gen-{n}")
        });
        assert_eq!(response["errors"], false);
        assert_eq!(response["items"][0]["index"]["status"], 201);
        assert_eq!(response["items"][0]["index"]["_id"], "gen-1");
        assert_eq!(response["items"][1]["create"]["_id"], "fixed");
    }

    #[test]
    fn a_bad_document_fails_only_its_item() {
        let body = "{\"index\":{}}\n{not json\n{\"index\":{}}\n{\"log\":\"ok\"}\n{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{}}\n[1]\n";
        let items = parse_bulk(body.as_bytes(), None, 0).unwrap();
        assert_eq!(items.len(), 4);
        let response = bulk_response(&items, 0, String::new);
        assert_eq!(response["errors"], true);
        let statuses: Vec<i64> = (0..4)
            .map(|i| {
                let item = response["items"][i]
                    .as_object()
                    .unwrap()
                    .values()
                    .next()
                    .unwrap()
                    .clone();
                item["status"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(statuses, [400, 201, 400, 400]);
        assert!(response["items"][0]["index"]["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("failed to parse"));
        assert_eq!(
            response["items"][2]["delete"]["error"]["type"],
            "action_request_validation_exception"
        );
    }

    #[test]
    fn a_bad_action_line_refuses_the_request() {
        for body in [
            "nonsense\n{}\n",
            "{\"index\":1}\n{}\n",
            "{\"index\":{}}\n",
            "{\"upsert\":{}}\n{}\n",
        ] {
            assert!(parse_bulk(body.as_bytes(), None, 0).is_err(), "{body}");
        }
        assert_eq!(parse_bulk(b"\n\n", None, 0).unwrap(), vec![]);
    }
}
