use super::*;
use periscope_config::{Limits, PromqlConfig};
use periscope_model::Scope;
use periscope_tenancy::{Enforcer, PeerKey};
use periscope_traces::{Place, Span, SpanId, Tag, TraceId};
use promql_parser::parser::{self, Expr};
use std::collections::BTreeMap;
use std::time::Duration;

const NOW: i64 = 1_800_000_000_000;

fn key() -> PeerKey {
    PeerKey::from_secret("span-metrics-tests")
}

fn generator() -> SpanMetrics {
    SpanMetrics::new(
        SpanMetricsOptions {
            wait: Duration::from_secs(10),
            max_pending: 100,
            ..SpanMetricsOptions::default()
        },
        key(),
    )
}

struct SpanSpec {
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &'static str,
    namespace: &'static str,
    kind: i32,
    error: bool,
    millis: i64,
    tags: Vec<Tag>,
}

fn span(s: SpanSpec) -> Span {
    Span {
        trace_id: TraceId([s.trace; 16]),
        span_id: SpanId([s.id; 8]),
        parent_span_id: s.parent.map(|p| SpanId([p; 8])),
        service: s.service.into(),
        operation: format!("{}-op", s.service),
        kind: s.kind,
        status_code: if s.error { 2 } else { 0 },
        start: NOW * 1_000_000,
        duration: s.millis * 1_000_000,
        place: Place {
            namespace: s.namespace.into(),
            ..Place::default()
        },
        tags: s.tags,
        resource: Vec::new().into(),
        events: Vec::new(),
        links: Vec::new(),
    }
}

fn spec(service: &'static str, namespace: &'static str, kind: i32) -> SpanSpec {
    SpanSpec {
        trace: 1,
        id: 1,
        parent: None,
        service,
        namespace,
        kind,
        error: false,
        millis: 50,
        tags: Vec::new(),
    }
}

/// A client span `id` of `client` calling a server span `id + 1` of `server`.
fn call(
    trace: u8,
    id: u8,
    client: (&'static str, &'static str),
    server: (&'static str, &'static str),
) -> [Span; 2] {
    [
        span(SpanSpec {
            trace,
            id,
            parent: Some(200),
            millis: 120,
            ..spec(client.0, client.1, 3)
        }),
        span(SpanSpec {
            trace,
            id: id + 1,
            parent: Some(id),
            millis: 90,
            ..spec(server.0, server.1, 2)
        }),
    ]
}

type Rendered = Vec<(BTreeMap<String, String>, f64)>;

fn render(g: &SpanMetrics, now: i64) -> Rendered {
    g.collect(now)
        .into_iter()
        .map(|ts| {
            let labels = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
            (labels, ts.samples.last().expect("a sample").value)
        })
        .collect()
}

/// The value of the one series named `name` with exactly these labels (besides
/// `__name__`), or `None`.
fn value(rendered: &Rendered, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wanted.insert("__name__".into(), name.into());
    rendered
        .iter()
        .find(|(l, _)| *l == wanted)
        .map(|(_, value)| *value)
}

fn record(g: &SpanMetrics, spans: &[Span], now: i64) {
    g.record(SpanFactBatch::of(spans), now);
}

#[test]
fn span_metrics_count_calls_and_latency_by_status() {
    let g = generator();
    let spans: Vec<Span> = [(5, false), (30, false), (3000, true)]
        .into_iter()
        .enumerate()
        .map(|(i, (millis, error))| {
            span(SpanSpec {
                id: i as u8 + 1,
                millis,
                error,
                ..spec("checkout", "shop", 1)
            })
        })
        .collect();
    record(&g, &spans, NOW);
    let r = render(&g, NOW);
    let labels = |status: &'static str| {
        vec![
            ("service", "checkout"),
            ("span_name", "checkout-op"),
            ("span_kind", "SPAN_KIND_INTERNAL"),
            ("status_code", status),
            ("namespace", "shop"),
        ]
    };
    let ok = labels("STATUS_CODE_UNSET");
    assert_eq!(value(&r, names::CALLS_TOTAL, &ok), Some(2.0));
    assert_eq!(
        value(&r, names::CALLS_TOTAL, &labels("STATUS_CODE_ERROR")),
        Some(1.0)
    );
    let bucket = |le: &'static str| {
        let mut l = ok.clone();
        l.push(("le", le));
        value(&r, "traces_spanmetrics_latency_bucket", &l)
    };
    assert_eq!(bucket("0.004"), Some(0.0));
    assert_eq!(bucket("0.008"), Some(1.0));
    assert_eq!(bucket("0.032"), Some(2.0));
    assert_eq!(bucket("16.384"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(2.0));
    let sum = value(&r, "traces_spanmetrics_latency_sum", &ok).unwrap();
    assert!((sum - 0.035).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(&r, "traces_spanmetrics_latency_count", &ok),
        Some(2.0)
    );
}

#[test]
fn a_series_is_first_written_with_a_zero_just_before() {
    let g = generator();
    record(&g, &[span(spec("a", "ns", 2))], NOW);
    let first = g.collect(NOW);
    let calls = first
        .iter()
        .find(|ts| ts.labels.iter().any(|l| l.value == names::CALLS_TOTAL))
        .unwrap();
    let samples: Vec<(i64, f64)> = calls
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value))
        .collect();
    assert_eq!(samples, vec![(NOW - 1, 0.0), (NOW, 1.0)]);
    let again = g.collect(NOW + 15_000);
    let calls = again
        .iter()
        .find(|ts| ts.labels.iter().any(|l| l.value == names::CALLS_TOTAL))
        .unwrap();
    assert_eq!(calls.samples.len(), 1);
    // Labels are sorted by name, as remote write requires.
    let names: Vec<&str> = calls.labels.iter().map(|l| l.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn client_and_server_spans_pair_in_either_order() {
    let g = generator();
    let [client, server] = call(1, 10, ("web", "shop"), ("cart", "shop"));
    record(&g, &[server], NOW);
    assert_eq!(g.stats().pending, 1);
    record(&g, &[client], NOW + 5);
    let [client2, mut server2] = call(2, 20, ("web", "shop"), ("cart", "shop"));
    server2.status_code = 2;
    record(&g, &[client2, server2], NOW + 6);
    assert_eq!(g.stats().pending, 0);
    let r = render(&g, NOW + 10);
    let edge = [
        ("client", "web"),
        ("server", "cart"),
        ("namespace", "shop"),
        ("client_namespace", "shop"),
        ("server_namespace", "shop"),
    ];
    assert_eq!(value(&r, names::REQUEST_TOTAL, &edge), Some(2.0));
    assert_eq!(value(&r, names::REQUEST_FAILED_TOTAL, &edge), Some(1.0));
    let mut le = edge.to_vec();
    le.push(("le", "0.1"));
    // The server spans took 90 ms, the client spans 120 ms.
    assert_eq!(
        value(
            &r,
            "traces_service_graph_request_server_seconds_bucket",
            &le
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &r,
            "traces_service_graph_request_client_seconds_bucket",
            &le
        ),
        Some(0.0)
    );
    let mut le = edge.to_vec();
    le.push(("le", "0.2"));
    assert_eq!(
        value(
            &r,
            "traces_service_graph_request_client_seconds_bucket",
            &le
        ),
        Some(2.0)
    );
}

#[test]
fn databases_roots_and_named_peers_become_virtual_nodes() {
    let g = generator();
    let db = |tags: Vec<Tag>, id: u8| {
        span(SpanSpec {
            id,
            parent: Some(1),
            tags,
            ..spec("orders", "shop", 3)
        })
    };
    record(
        &g,
        &[
            db(
                vec![
                    Tag::string("db.system", "postgresql"),
                    Tag::string("server.address", "pg-main"),
                ],
                2,
            ),
            db(
                vec![
                    Tag::string("db.system.name", "redis"),
                    Tag::string("network.peer.address", "10.0.0.7"),
                    Tag::string("network.peer.port", "6379"),
                ],
                3,
            ),
            db(vec![Tag::string("db.name", "inventory")], 4),
            // A root server span: called by "user".
            span(SpanSpec {
                id: 9,
                ..spec("web", "shop", 2)
            }),
            // A client span naming its peer, whose server never reports.
            span(SpanSpec {
                id: 5,
                parent: Some(1),
                tags: vec![Tag::string("peer.service", "payments-api")],
                ..spec("orders", "shop", 3)
            }),
            // A client span naming nothing, whose server never reports.
            span(SpanSpec {
                id: 6,
                parent: Some(1),
                ..spec("orders", "shop", 3)
            }),
        ],
        NOW,
    );
    let before = render(&g, NOW + 9_999);
    let named_peer = [
        ("client", "orders"),
        ("server", "payments-api"),
        ("connection_type", "virtual_node"),
        ("virtual_node", "server"),
        ("namespace", "shop"),
        ("client_namespace", "shop"),
    ];
    assert_eq!(value(&before, names::REQUEST_TOTAL, &named_peer), None);
    let r = render(&g, NOW + 10_000);
    for server in ["pg-main", "10.0.0.7:6379", "inventory"] {
        let labels = [
            ("client", "orders"),
            ("server", server),
            ("connection_type", "database"),
            ("namespace", "shop"),
            ("client_namespace", "shop"),
        ];
        assert_eq!(
            value(&r, names::REQUEST_TOTAL, &labels),
            Some(1.0),
            "{server}"
        );
    }
    let user = [
        ("client", "user"),
        ("server", "web"),
        ("connection_type", "virtual_node"),
        ("virtual_node", "client"),
        ("namespace", "shop"),
        ("server_namespace", "shop"),
    ];
    assert_eq!(value(&r, names::REQUEST_TOTAL, &user), Some(1.0));
    assert_eq!(value(&r, names::REQUEST_TOTAL, &named_peer), Some(1.0));
    let stats = g.stats();
    assert_eq!(stats.pairing.expired, 1);
    assert_eq!(stats.pending, 0);
}

#[test]
fn producer_and_consumer_pair_as_a_messaging_edge() {
    let g = generator();
    let [mut producer, mut consumer] = call(3, 30, ("orders", "shop"), ("mailer", "shop"));
    producer.kind = 4;
    consumer.kind = 5;
    record(&g, &[producer, consumer], NOW);
    let r = render(&g, NOW);
    let labels = [
        ("client", "orders"),
        ("server", "mailer"),
        ("connection_type", "messaging_system"),
        ("namespace", "shop"),
        ("client_namespace", "shop"),
        ("server_namespace", "shop"),
    ];
    assert_eq!(value(&r, names::REQUEST_TOTAL, &labels), Some(1.0));
}

#[test]
fn waiting_spans_and_series_are_bounded() {
    let g = SpanMetrics::new(
        SpanMetricsOptions {
            max_pending: 2,
            max_series: 3,
            ..SpanMetricsOptions::default()
        },
        key(),
    );
    let servers: Vec<Span> = (1..=4)
        .map(|i| {
            span(SpanSpec {
                id: i,
                parent: Some(100 + i),
                ..spec("s", "ns", 2)
            })
        })
        .collect();
    record(&g, &servers, NOW);
    assert_eq!(g.stats().pending, 2);
    assert_eq!(g.stats().pairing.dropped, 2);
    let many: Vec<Span> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|service| span(spec(service, "ns", 1)))
        .collect();
    record(&g, &many, NOW);
    // "s" plus two of a..d fill the three series; the fourth service is refused.
    assert_eq!(g.stats().series.series, 3);
    assert_eq!(g.stats().series.dropped, 2);
}

#[test]
fn stale_series_are_forgotten() {
    let g = SpanMetrics::new(
        SpanMetricsOptions {
            stale_after: Duration::from_secs(60),
            ..SpanMetricsOptions::default()
        },
        key(),
    );
    record(&g, &[span(spec("a", "ns", 1))], NOW);
    assert_eq!(g.collect(NOW + 60_000).len(), 1 + 15 + 2);
    assert!(g.collect(NOW + 60_001).is_empty());
}

/// Which of `rendered`'s request series a selector, enforced for `scope`,
/// selects: the enforcement and the series design together decide it.
fn visible(rendered: &Rendered, query: &str, scope: &Scope) -> Vec<(String, String)> {
    let enforcer = Enforcer::from_config(&PromqlConfig::default()).with_peer_key(key());
    let enforced = enforcer
        .enforce_query(query, scope, &Limits::default())
        .unwrap()
        .into_owned();
    let Ok(Expr::VectorSelector(vs)) = parser::parse(&enforced) else {
        panic!("{enforced} is not a selector");
    };
    let mut seen: Vec<(String, String)> = rendered
        .iter()
        .filter(|(labels, _)| {
            vs.name
                .as_ref()
                .is_none_or(|n| labels.get("__name__") == Some(n))
                && vs
                    .matchers
                    .matchers
                    .iter()
                    .all(|m| m.is_match(labels.get(&m.name).map(String::as_str).unwrap_or("")))
        })
        .map(|(labels, _)| (labels["client"].clone(), labels["server"].clone()))
        .collect();
    seen.sort();
    seen
}

#[test]
fn every_caller_sees_exactly_one_view_of_a_cross_namespace_edge() {
    let g = generator();
    let mut spans = Vec::new();
    spans.extend(call(1, 10, ("web", "team-a"), ("cart", "team-b")));
    spans.extend(call(2, 20, ("web", "team-a"), ("auth", "team-a")));
    spans.extend(call(3, 30, ("batch", ""), ("cart", "team-b")));
    record(&g, &spans, NOW);
    let r = render(&g, NOW);
    let opaque = periscope_traces::service::OPAQUE_SERVICE;
    let pair = |c: &str, s: &str| (c.to_string(), s.to_string());
    for query in [
        "traces_service_graph_request_total",
        r#"{__name__="traces_service_graph_request_total"}"#,
        r#"traces_service_graph_request_total{opaque_peer=~".*"}"#,
    ] {
        assert_eq!(
            visible(&r, query, &Scope::namespaces(["team-a"])),
            vec![pair("web", opaque), pair("web", "auth")],
            "{query}"
        );
        assert_eq!(
            visible(&r, query, &Scope::namespaces(["team-b"])),
            vec![pair(opaque, "cart"), pair(opaque, "cart")],
            "{query}"
        );
        assert_eq!(
            visible(&r, query, &Scope::namespaces(["team-a", "team-b"])),
            vec![
                pair(opaque, "cart"),
                pair("web", "auth"),
                pair("web", "cart")
            ],
            "{query}"
        );
        assert_eq!(
            visible(&r, query, &Scope::ClusterWide),
            vec![
                pair("batch", "cart"),
                pair("web", "auth"),
                pair("web", "cart")
            ],
            "{query}"
        );
        assert!(visible(&r, query, &Scope::namespaces(["team-c"])).is_empty());
    }
    // The half a tenant sees names nothing of the other side: no service,
    // no namespace, no server-side latency.
    let team_a_half = r
        .iter()
        .filter(|(l, _)| l.get("server").map(String::as_str) == Some(opaque))
        .filter(|(l, _)| l.get("namespace").map(String::as_str) == Some("team-a"));
    for (labels, _) in team_a_half {
        assert!(!labels.values().any(|v| v.contains("team-b") || v == "cart"));
        assert!(!labels["__name__"].contains("server_seconds"), "{labels:?}");
    }
}
