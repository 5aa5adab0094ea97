//! The generated query DSL against golden JSON files (`tests/golden/`).
//! Elasticsearch cannot run on these machines; the golden files were checked
//! against the query DSL reference (terms, regexp, wildcard with
//! `case_insensitive`, match_phrase_prefix, range with `epoch_millis`,
//! `search_after`, `pit`, `cardinality`, `date_histogram.fixed_interval`).
//! Set `PERISCOPE_BLESS=1` to rewrite them after an intended change.

use periscope_backend_elasticsearch::dsl::{self, Paging};
use periscope_config::ElasticsearchFields;
use periscope_logs::LogRequest;
use periscope_model::Scope;
use serde_json::Value;

fn request(pairs: &[(&str, &str)], scope: &Scope) -> LogRequest {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LogRequest::parse(&pairs, scope, 1_795_687_200_000_000_000).unwrap()
}

fn golden(name: &str, actual: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("PERISCOPE_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(text, expected, "{name} differs from {}", path.display());
}

fn tenant() -> Scope {
    Scope::namespaces(["shop", "shop-db"])
}

#[test]
fn a_tenant_page_with_every_filter() {
    let r = request(
        &[
            ("workloads", "web"),
            ("pods", "db-0"),
            ("containers", "app"),
            ("namespace_query", "Sho"),
            ("pod_query", "we*b"),
            ("log_query", "Timeout,refused"),
            ("start_time", "1795683600"),
            ("end_time", "1795687200"),
            ("size", "50"),
        ],
        &tenant(),
    );
    let body = dsl::page_body(
        &r.filter,
        &ElasticsearchFields::default(),
        r.sort,
        r.size,
        r.from,
        None,
        Paging::Indices,
    );
    golden("page_tenant_filters", &body);
}

#[test]
fn a_next_page_in_a_point_in_time() {
    let r = request(&[("sort", "asc"), ("size", "2")], &Scope::ClusterWide);
    let after = [serde_json::json!(1795687200123_i64), serde_json::json!(42)];
    let body = dsl::page_body(
        &r.filter,
        &ElasticsearchFields::default(),
        r.sort,
        r.size,
        0,
        Some(&after),
        Paging::PointInTime("46ToAwMDaWR5BXV1"),
    );
    golden("page_point_in_time", &body);
}

#[test]
fn statistics_and_histogram() {
    let r = request(&[("start_time", "1795600800")], &tenant());
    golden(
        "statistics",
        &dsl::statistics_body(&r.filter, &ElasticsearchFields::default()),
    );
    golden(
        "histogram",
        &dsl::histogram_body(
            &r.filter,
            &ElasticsearchFields::default(),
            15 * 60 * 1_000_000_000,
        ),
    );
}

#[test]
fn stream_volume_per_bucket() {
    let r = request(&[("start_time", "1795683600")], &tenant());
    let after = serde_json::json!({"namespace": "shop", "pod": "web-0", "container": "web", "bucket": 1795683600000_i64});
    golden(
        "volume",
        &dsl::volume_body(
            &r.filter,
            &ElasticsearchFields::default(),
            Some(60_000_000_000),
            Some(&after),
            1000,
        ),
    );
}

#[test]
fn five_thousand_namespaces_are_one_terms_query() {
    let scope = Scope::namespaces((0..5000).map(|i| format!("ns-{i}")));
    let r = request(&[], &scope);
    let clauses = dsl::filter_clauses(&r.filter, &ElasticsearchFields::default());
    // The scope and the time range: two clauses, whatever the scope's size.
    assert_eq!(clauses.len(), 2);
    assert_eq!(
        clauses[0]["terms"]["kubernetes.namespace_name.keyword"]
            .as_array()
            .unwrap()
            .len(),
        5000
    );
}

#[test]
fn field_names_follow_the_configuration() {
    let fields = ElasticsearchFields {
        time: "@timestamp".into(),
        namespace: "k8s.namespace".into(),
        keyword_suffix: String::new(),
        ..ElasticsearchFields::default()
    };
    let r = request(&[("namespaces", "shop")], &tenant());
    let clauses = dsl::filter_clauses(&r.filter, &fields);
    assert_eq!(
        clauses[0],
        serde_json::json!({"terms": {"k8s.namespace": ["shop"]}})
    );
    assert!(clauses[1]["range"]["@timestamp"].is_object());
}
