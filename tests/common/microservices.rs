//! The microservice traces the span-metrics and Tempo tests export with the
//! OpenTelemetry SDK: two requests frontend → api (team-a, the first failing),
//! api calling Postgres, team-b's ledger and a SaaS mailer without spans, and
//! a queue between orders and mailer (team-a-dev).

use serde_json::{json, Value};

const MS: i64 = 1_000_000;

/// Trace ids of the three traces, oldest first.
pub const T1: &str = "7a000000000000000000000000000001";
pub const T2: &str = "7a000000000000000000000000000002";
pub const T3: &str = "7a000000000000000000000000000003";

#[allow(clippy::too_many_arguments)]
fn span(
    id: &str,
    parent: Option<&str>,
    name: &str,
    service: &str,
    namespace: &str,
    kind: &str,
    start: i64,
    ms: i64,
) -> Value {
    json!({"span_id": id, "parent": parent, "name": name, "service": service,
           "namespace": namespace, "pod": format!("{service}-0"), "kind": kind,
           "start_ns": start, "end_ns": start + ms * MS})
}

/// Two requests frontend → api (team-a), the first failing in api; api calls
/// Postgres, the ledger of team-b and a SaaS mailer that sends no spans;
/// orders (team-a-dev) publishes to a mailer queue consumer.
pub fn traces(base: i64) -> Value {
    let (t1, t2, t3) = (T1, T2, T3);
    let mut failing_api = span(
        "1000000000000003",
        Some("1000000000000002"),
        "GET /api",
        "api",
        "team-a",
        "server",
        base + 10 * MS,
        40,
    );
    failing_api["error"] = json!(true);
    let mut db = span(
        "1000000000000004",
        Some("1000000000000003"),
        "SELECT orders",
        "api",
        "team-a",
        "client",
        base + 12 * MS,
        5,
    );
    db["attributes"] = json!({"db.system": "postgresql", "server.address": "pg"});
    let mut saas = span(
        "1000000000000007",
        Some("1000000000000003"),
        "POST /send",
        "api",
        "team-a",
        "client",
        base + 30 * MS,
        8,
    );
    saas["attributes"] = json!({"peer.service": "mailer-saas"});
    let mut spec = json!({"traces": [
        {"trace_id": t1, "spans": [
            span("1000000000000001", None, "GET /", "frontend", "team-a", "server", base, 100),
            span("1000000000000002", Some("1000000000000001"), "GET /api", "frontend", "team-a", "client", base + 5 * MS, 60),
            failing_api,
            db,
            span("1000000000000005", Some("1000000000000003"), "POST /charge", "api", "team-a", "client", base + 20 * MS, 15),
            span("1000000000000006", Some("1000000000000005"), "POST /charge", "ledger", "team-b", "server", base + 21 * MS, 12),
            saas,
        ]},
        {"trace_id": t2, "spans": [
            span("2000000000000001", None, "GET /", "frontend", "team-a", "server", base + 1000 * MS, 200),
            span("2000000000000002", Some("2000000000000001"), "GET /api", "frontend", "team-a", "client", base + 1005 * MS, 170),
            span("2000000000000003", Some("2000000000000002"), "GET /api", "api", "team-a", "server", base + 1010 * MS, 150),
        ]},
        {"trace_id": t3, "spans": [
            span("3000000000000001", None, "publish", "orders", "team-a-dev", "producer", base + 2000 * MS, 3),
            span("3000000000000002", Some("3000000000000001"), "consume", "mailer", "team-a-dev", "consumer", base + 2010 * MS, 30),
        ]},
    ]});
    // api runs in a pod the sample cluster's inventory has, so its pod page
    // exists, of Deployment api.
    for t in spec["traces"].as_array_mut().unwrap() {
        for s in t["spans"].as_array_mut().unwrap() {
            if s["service"] == "api" {
                s["pod"] = json!(API_POD);
                s["resource"] = json!({"k8s.deployment.name": "api"});
            }
        }
    }
    spec
}

/// A pod of the sample cluster (in every namespace).
pub const API_POD: &str = "api-6d4cf56db6-x7k2p";

/// Exports [`traces`] with the SDK over OTLP/HTTP to Periscope at `base_url`,
/// timed from `base` (Unix ns); blocks, so call it off the runtime.
pub fn export(base_url: &str, base: i64) {
    let exported = super::client(
        "otlp_traces.py",
        &[
            "http",
            &format!("{base_url}/v1/traces"),
            super::SHIPPER_TOKEN,
        ],
        &traces(base).to_string(),
    );
    assert_eq!(exported["exported"], 12, "{exported}");
}

/// A minute ago, Unix ns: where the exported traces start.
pub fn recent_base() -> i64 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000)
        * MS
}
