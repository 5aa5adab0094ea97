//! Elasticsearch's `_bulk` format, as Fluent Bit's `es` output (and other
//! shippers) send it: NDJSON pairs of an action line (`index` or `create`)
//! and a document line. A bad document fails that item only; a bad action
//! line makes the request unreadable (as in Elasticsearch), so nothing of it
//! is stored.

use crate::raw::{Key, Members};
use crate::record::LogRecord;
use serde::Deserialize;
use std::fmt::Write;
use std::sync::Arc;

/// One action of a bulk request and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItem {
    /// `index`, `create`, `update` or `delete`.
    pub action: &'static str,
    pub index: Option<Arc<str>>,
    pub id: Option<String>,
    /// Why the item was not stored; `None` when its record was.
    pub error: Option<String>,
}

/// A parsed bulk request: every item, and the records of the good ones.
#[derive(Debug, Default)]
pub struct Bulk {
    pub items: Vec<BulkItem>,
    pub records: Vec<LogRecord>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "_index", borrow)]
    index: Option<Key<'a>>,
    #[serde(rename = "_id", borrow)]
    id: Option<Key<'a>>,
}

/// Parses a bulk body; `default_index` comes from the path (`/{index}/_bulk`),
/// `now` (Unix ns) times documents without one.
pub fn parse_bulk(body: &[u8], default_index: Option<&str>, now: i64) -> Result<Bulk, String> {
    let mut bulk = Bulk::default();
    let default_index: Option<Arc<str>> = default_index.map(Arc::from);
    let mut last_index: Option<Arc<str>> = None;
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    while let Some((number, line)) = lines.next() {
        let malformed = |why: &str| format!("Malformed action/metadata line [{number}], {why}");
        let Members(action) = serde_json::from_slice(line)
            .map_err(|e| malformed(&format!("expected START_OBJECT: {e}")))?;
        let [(name, meta)] = action.as_slice() else {
            return Err(malformed("expected one action with its metadata"));
        };
        let meta: Meta = serde_json::from_str(meta.get())
            .map_err(|_| malformed("expected the action's metadata object"))?;
        let action = match name.as_ref() {
            "index" => "index",
            "create" => "create",
            "update" => "update",
            "delete" => "delete",
            other => return Err(malformed(&format!("unknown action [{other}]"))),
        };
        // Items usually share one index: keep one copy of its name.
        let index = match meta.index {
            Some(Key(name)) => match &last_index {
                Some(last) if **last == *name => Some(Arc::clone(last)),
                _ => {
                    let name: Arc<str> = Arc::from(name.as_ref());
                    last_index = Some(Arc::clone(&name));
                    Some(name)
                }
            },
            None => default_index.clone(),
        };
        let error = match action {
            "index" | "create" => match lines.next() {
                None => {
                    return Err(format!(
                        "the action on line [{number}] has no document line"
                    ))
                }
                Some((_, doc)) => match LogRecord::from_json(doc, now) {
                    Ok(record) => {
                        bulk.records.push(record);
                        None
                    }
                    Err(e) => Some(e.0),
                },
            },
            "update" => {
                lines.next();
                Some("update is not supported: log lines are append-only".to_string())
            }
            _ => Some("delete is not supported: log lines are append-only".to_string()),
        };
        bulk.items.push(BulkItem {
            action,
            index,
            id: meta.id.map(|Key(id)| id.into_owned()),
            error,
        });
    }
    Ok(bulk)
}

/// Elasticsearch's bulk response, as JSON text. Items without an `_id` get
/// one from `generated_id`.
pub fn bulk_response(
    items: &[BulkItem],
    took_ms: u64,
    mut generated_id: impl FnMut() -> String,
) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let errors = items.iter().any(|i| i.error.is_some());
    let mut out = String::with_capacity(64 + items.len() * 160);
    let _ = write!(out, "{{\"took\":{took_ms},\"errors\":{errors},\"items\":[");
    let mut last_index: Option<(&Arc<str>, String)> = None;
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let index = match &item.index {
            None => "\"\"".to_string(),
            Some(name) => match &last_index {
                Some((last, quoted)) if Arc::ptr_eq(last, name) => quoted.clone(),
                _ => {
                    let quoted = quote(name);
                    last_index = Some((name, quoted.clone()));
                    quoted
                }
            },
        };
        let id = match &item.id {
            Some(id) => quote(id),
            None => quote(&generated_id()),
        };
        let _ = write!(
            out,
            "{{\"{}\":{{\"_index\":{index},\"_id\":{id},",
            item.action
        );
        match &item.error {
            None => out.push_str("\"_version\":1,\"result\":\"created\",\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"status\":201}}"),
            Some(reason) => {
                let kind = if matches!(item.action, "index" | "create") {
                    "mapper_parsing_exception"
                } else {
                    "action_request_validation_exception"
                };
                let _ = write!(out, "\"status\":400,\"error\":{{\"type\":\"{kind}\",\"reason\":{}}}}}}}", quote(reason));
            }
        }
    }
    out.push_str("]}");
    out
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
        let bulk = parse_bulk(FLUENT_BIT.as_bytes(), Some("path-index"), 0).unwrap();
        let items = &bulk.items;
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].index.as_deref(),
            Some("ks-logstash-log-2026.11.26")
        );
        assert_eq!(items[1].index.as_deref(), Some("path-index"));
        assert_eq!(items[1].id.as_deref(), Some("fixed"));
        assert_eq!(bulk.records[0].namespace, "shop");
        let mut n = 0;
        let response: serde_json::Value = serde_json::from_str(&bulk_response(items, 3, || {
            n += 1;
            format!("gen-{n}")
        }))
        .unwrap();
        assert_eq!(response["errors"], false);
        assert_eq!(response["items"][0]["index"]["status"], 201);
        assert_eq!(response["items"][0]["index"]["_id"], "gen-1");
        assert_eq!(response["items"][1]["create"]["_id"], "fixed");
    }

    #[test]
    fn a_bad_document_fails_only_its_item() {
        let body = "{\"index\":{}}\n{not json\n{\"index\":{}}\n{\"log\":\"ok\"}\n{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{}}\n[1]\n";
        let bulk = parse_bulk(body.as_bytes(), None, 0).unwrap();
        assert_eq!((bulk.items.len(), bulk.records.len()), (4, 1));
        let response: serde_json::Value =
            serde_json::from_str(&bulk_response(&bulk.items, 0, String::new)).unwrap();
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
        assert!(parse_bulk(b"\n\n", None, 0).unwrap().items.is_empty());
    }
}
