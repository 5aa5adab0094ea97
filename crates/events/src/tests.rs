const LIMIT: usize = 1 << 20;

use crate::parse_body;
use periscope_model::ErrorKind;

const T0: &str = "2026-01-01T00:00:00Z";
const T5: &str = "2026-01-01T00:05:00Z";
const NS_T0: i64 = 1_767_225_600_000_000_000;
const NS_T5: i64 = NS_T0 + 300_000_000_000;

/// The KubeSphere 3.x line (bare core/v1, as kube-events ≤ 0.7 sends it).
fn core_v1(uid: &str, count: u64, last: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"web-1.17c2","namespace":"demo","uid":"{uid}","resourceVersion":"7"}},"involvedObject":{{"kind":"Pod","namespace":"demo","name":"web-1","uid":"p1","apiVersion":"v1","fieldPath":"spec.containers{{web}}"}},"reason":"BackOff","message":"Back-off restarting failed container","source":{{"component":"kubelet","host":"node-1"}},"firstTimestamp":"{T0}","lastTimestamp":"{last}","count":{count},"type":"Warning","eventTime":null,"reportingComponent":"","reportingInstance":""}}"#
    )
}

#[test]
fn a_core_v1_event_becomes_one_record() {
    let parsed = parse_body(&core_v1("u1", 5, T5), "default", LIMIT).unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let r = &parsed.records[0];
    assert_eq!((r.cluster.as_str(), r.uid.as_str()), ("default", "u1"));
    assert_eq!(
        (r.namespace.as_str(), r.name.as_str()),
        ("demo", "web-1.17c2")
    );
    assert_eq!(r.involved.kind, "Pod");
    assert_eq!(r.involved.field_path, "spec.containers{web}");
    assert_eq!(
        (r.reason.as_str(), r.event_type.as_str()),
        ("BackOff", "Warning")
    );
    assert_eq!(
        (r.component.as_str(), r.host.as_str()),
        ("kubelet", "node-1")
    );
    assert_eq!((r.count, r.first_seen, r.last_seen), (5, NS_T0, NS_T5));
}

#[test]
fn every_exporter_shape_is_read() {
    let inner = core_v1("u1", 2, T5);
    let events_v1 = format!(
        r#"{{"metadata":{{"name":"e","namespace":"demo","uid":"u2"}},"regarding":{{"kind":"Pod","namespace":"demo","name":"web-2"}},"note":"pulled","reason":"Pulled","type":"Normal","reportingController":"kubelet","reportingInstance":"node-2","eventTime":"{T0}","series":{{"count":4,"lastObservedTime":"{T5}"}}}}"#
    );
    let body = [
        // kube-events 0.8: flat fields plus `cluster`.
        inner.replacen('{', r#"{"cluster":"east","#, 1),
        // kube-events ≥ 0.9: the `Event` wrapper.
        format!(r#"{{"Event":{inner},"cluster":"west"}}"#),
        // kubernetes-event-exporter: `clusterName`, count as a string.
        inner
            .replacen('{', r#"{"clusterName":"north","#, 1)
            .replace(r#""count":2"#, r#""count":"3""#),
        // events.k8s.io/v1 (kube-events --event.version=eventsv1).
        format!(r#"{{"Event":{events_v1},"cluster":"west"}}"#),
    ]
    .join("\n");
    let parsed = parse_body(&body, "default", LIMIT).unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let clusters: Vec<&str> = parsed.records.iter().map(|r| r.cluster.as_str()).collect();
    assert_eq!(clusters, ["east", "west", "north", "west"]);
    assert_eq!(parsed.records[2].count, 3);
    let v1 = &parsed.records[3];
    assert_eq!(
        (v1.involved.name.as_str(), v1.message.as_str()),
        ("web-2", "pulled")
    );
    assert_eq!(
        (v1.component.as_str(), v1.host.as_str()),
        ("kubelet", "node-2")
    );
    // series.lastObservedTime wins; the count is the series'.
    assert_eq!((v1.count, v1.first_seen, v1.last_seen), (4, NS_T0, NS_T5));
    // A list and a single pretty-printed object are read too.
    let list = format!("[{}, {}]", core_v1("a", 1, T0), core_v1("b", 1, T0));
    assert_eq!(parse_body(&list, "c", LIMIT).unwrap().records.len(), 2);
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&core_v1("c", 1, T0)).unwrap(),
    )
    .unwrap();
    assert_eq!(parse_body(&pretty, "c", LIMIT).unwrap().records.len(), 1);
    let empty_list = parse_body("[]", "c", LIMIT).unwrap();
    assert!(empty_list.records.is_empty() && empty_list.errors.is_empty());
}

#[test]
fn one_bad_line_fails_alone_and_says_which() {
    let body = [
        core_v1("u1", 1, T0),
        "{not json".to_string(),
        r#"{"reason":"x"}"#.to_string(),
        core_v1("u3", 1, "yesterday"),
        r#"{"metadata":{"uid":"u4"},"involvedObject":{}}"#.to_string(),
        core_v1("u5", 1, T0),
    ]
    .join("\n");
    let parsed = parse_body(&body, "default", LIMIT).unwrap();
    assert_eq!(parsed.records.len(), 2);
    let lines: Vec<usize> = parsed.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    assert!(
        parsed.errors[1].reason.contains("involvedObject"),
        "{:?}",
        parsed.errors
    );
    assert!(
        parsed.errors[2].reason.contains("lastTimestamp"),
        "{:?}",
        parsed.errors
    );
    assert!(
        parsed.errors[3].reason.contains("no time"),
        "{:?}",
        parsed.errors
    );
    for body in ["", "  \n ", "[1,"] {
        assert_eq!(
            parse_body(body, "c", LIMIT).unwrap_err().kind(),
            ErrorKind::BadRequest,
            "{body:?}"
        );
    }
}

#[test]
fn updates_of_one_event_merge_into_one_record() {
    let early = parse_body(&core_v1("u1", 2, T0), "c", LIMIT)
        .unwrap()
        .records
        .remove(0);
    let late = parse_body(&core_v1("u1", 5, T5), "c", LIMIT)
        .unwrap()
        .records
        .remove(0);
    for (a, b) in [(early.clone(), late.clone()), (late.clone(), early.clone())] {
        let mut merged = a;
        merged.merge(b);
        assert_eq!(
            (merged.count, merged.first_seen, merged.last_seen),
            (5, NS_T0, NS_T5)
        );
    }
    let mut twice = late.clone();
    twice.merge(late.clone());
    assert_eq!(twice, late, "a repeated report changes nothing");
    assert_eq!(early.key(), late.key());
}

#[test]
fn an_oversized_line_is_refused_with_its_number_never_cut() {
    let long = core_v1("u2", 1, T0).replace("Back-off", &"x".repeat(2000));
    let body = [core_v1("u1", 1, T0), long, core_v1("u3", 1, T0)].join("\n");
    let parsed = parse_body(&body, "c", 1024).unwrap();
    assert_eq!(parsed.records.len(), 2);
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 2);
    assert!(parsed.errors[0]
        .reason
        .contains("more than the limit of 1024"));
}
