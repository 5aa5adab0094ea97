//! The event layout: core/v1 Event documents, as kube-events' exporter
//! writes them through Fluent Bit (`ks-logstash-events-*`).

use super::dsl::{contains, equals_any_case, phrases, scope, terms};
use super::Layout;
use periscope_events::{EventFilter, EventRecord};
use serde_json::Value;

/// See the module documentation.
pub struct EventLayout;

impl Layout for EventLayout {
    type Record = EventRecord;
    type Filter = EventFilter;
    const DEFAULT_PREFIX: &'static str = "ks-logstash-events";
    const TIME: &'static str = "lastTimestamp";
    const TIES: &'static [&'static str] = &["metadata.uid.keyword"];
    const RESOURCES: &'static str = "involvedObject.uid.keyword";

    fn clauses(f: &EventFilter) -> (Vec<Value>, Vec<Value>) {
        let mut clauses = scope("involvedObject.namespace.keyword", &f.namespaces);
        clauses.extend(
            [
                terms("involvedObject.name.keyword", &f.names),
                contains("involvedObject.name.keyword", &f.name_search),
                terms("involvedObject.kind.keyword", &f.kinds),
                equals_any_case("involvedObject.kind.keyword", &f.kinds_any_case),
                terms("reason.keyword", &f.reasons),
                contains("reason.keyword", &f.reason_search),
                phrases("message", &f.message_search),
                terms("type.keyword", &f.types),
            ]
            .into_iter()
            .flatten(),
        );
        (clauses, Vec::new())
    }

    fn document(r: &EventRecord) -> (String, i64, &str) {
        (format!("{}/{}", r.cluster, r.uid), r.last_seen, &r.raw)
    }
}
