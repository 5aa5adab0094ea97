use super::*;
use std::collections::HashMap;

const HASH_A: &str = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90";
const HASH_B: &str = "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9";

fn sample() -> String {
    format!(
        r#"
[server]
http_listen = "127.0.0.1:9480"

[[clusters]]
name = "default"
prometheus = {{ url = "http://127.0.0.1:9090", timeout = "10s" }}

[[workspaces]]
name = "ws-a"
namespaces = ["team-a", "team-a-dev"]

[[principals]]
name = "alice"
token_sha256 = "{HASH_A}"
role = "workspace-viewer"
workspaces = ["ws-a"]

[[principals]]
name = "root"
token_sha256 = "{HASH_B}"
role = "cluster-admin"
"#
    )
}

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

#[test]
fn parses_the_documented_example() {
    let c = Config::from_toml(&sample(), "test.toml", &no_env()).unwrap();
    assert_eq!(
        c.clusters[0].prometheus.timeout,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(c.principals[0].role, Role::WorkspaceViewer);
    assert_eq!(c.default_cluster().name, "default");
    assert_eq!(c.limits.max_points_per_series, 11_000);
}

#[test]
fn environment_overrides_win_over_the_file() {
    let env: HashMap<String, String> = [
        ("PERISCOPE_SERVER__HTTP_LISTEN", "0.0.0.0:1234"),
        ("PERISCOPE_CLUSTERS__0__PROMETHEUS__URL", "http://prom:9090"),
        ("PERISCOPE_LIMITS__MAX_CONCURRENT_QUERIES", "3"),
        ("PERISCOPE_LOG", "debug"),
        ("UNRELATED", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let c = Config::from_toml(&sample(), "test.toml", &env).unwrap();
    assert_eq!(c.server.http_listen, "0.0.0.0:1234");
    assert_eq!(c.clusters[0].prometheus.url, "http://prom:9090");
    assert_eq!(c.limits.max_concurrent_queries, 3);
}

#[test]
fn environment_override_of_a_missing_array_item_is_an_error() {
    let env = HashMap::from([("PERISCOPE_CLUSTERS__5__NAME".to_string(), "x".to_string())]);
    let err = Config::from_toml(&sample(), "test.toml", &env).unwrap_err();
    assert!(
        err.to_string().contains("PERISCOPE_CLUSTERS__5__NAME"),
        "{err}"
    );
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn unknown_keys_are_errors_with_a_location() {
    let text = sample().replace("http_listen", "http_lisen");
    let err = Config::from_toml(&text, "test.toml", &no_env())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("test.toml:"), "{err}");
    assert!(err.contains("http_lisen"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn plain_text_tokens_are_refused() {
    let text = sample().replace(
        &format!("token_sha256 = \"{HASH_A}\""),
        "token = \"secret\"",
    );
    let err = Config::from_toml(&text, "test.toml", &no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("principals[0].token"), "{err}");
    assert!(
        !err.contains("secret"),
        "the token must not be echoed: {err}"
    );
}

#[test]
fn inconsistencies_are_listed_by_key() {
    let text = sample()
        .replace("workspaces = [\"ws-a\"]", "workspaces = [\"ws-zz\"]")
        .replace(HASH_B, "abc")
        .replace("\"team-a-dev\"", "\"Team_A\"");
    let err = Config::from_toml(&text, "test.toml", &no_env()).unwrap_err();
    let ConfigError::Invalid { issues, .. } = &err else {
        panic!("{err}")
    };
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "workspaces[0].namespaces",
            "principals[0].workspaces",
            "principals[1].token_sha256"
        ]
    );
}

#[test]
fn discovery_allows_workspaces_not_declared_statically() {
    let text = sample().replace("workspaces = [\"ws-a\"]", "workspaces = [\"ws-live\"]")
        + "\n[workspace_discovery]\nrefresh_interval = \"15s\"\n";
    let c = Config::from_toml(&text, "test.toml", &no_env()).unwrap();
    let d = c.workspace_discovery.unwrap();
    assert_eq!(d.workspace_label, "label_kubesphere_io_workspace");
    assert_eq!(d.refresh_interval, std::time::Duration::from_secs(15));
}

#[test]
fn principal_limits_override_only_what_they_set() {
    let text = sample().replace(
        "workspaces = [\"ws-a\"]",
        "workspaces = [\"ws-a\"]\nlimits = { max_concurrent_queries = 2, max_range = \"1d\" }",
    );
    let c = Config::from_toml(&text, "test.toml", &no_env()).unwrap();
    let l = c.limits.with_override(&c.principals[0].limits);
    assert_eq!(l.max_concurrent_queries, 2);
    assert_eq!(l.max_range, std::time::Duration::from_secs(86_400));
    assert_eq!(l.max_points_per_series, 11_000);
}

#[test]
fn log_backends_per_cluster_and_the_embedded_default() {
    let text = format!(
        r#"{}
[storage]
data_dir = "/var/lib/periscope"

[[clusters]]
name = "east"
prometheus = {{ url = "http://127.0.0.1:9091" }}
logs = {{ elasticsearch = {{ url = "https://es:9200", index_prefix = "logs", api_key = "a2V5" }} }}

[[ingest.tokens]]
name = "fluent-bit"
token_sha256 = "{}"
cluster = "east"
"#,
        sample(),
        "0".repeat(64)
    );
    let config = Config::from_toml(&text, "test", &no_env()).unwrap();
    match config.logs_backend(&config.clusters[0]) {
        Some(LogsConfig::Embedded(e)) => {
            assert_eq!(
                e.dir.unwrap(),
                std::path::Path::new("/var/lib/periscope/logs/default")
            );
            assert_eq!(e.retention, std::time::Duration::from_secs(7 * 86400));
        }
        other => panic!("expected the embedded default, got {other:?}"),
    }
    match config.logs_backend(&config.clusters[1]) {
        Some(LogsConfig::Elasticsearch(es)) => {
            assert_eq!(
                (es.index_prefix.as_str(), es.fields.namespace.as_str()),
                ("logs", "kubernetes.namespace_name")
            );
        }
        other => panic!("expected elasticsearch, got {other:?}"),
    }
    // Without [storage] there is no default log backend.
    let plain = Config::from_toml(&sample(), "test", &no_env()).unwrap();
    assert!(plain.logs_backend(&plain.clusters[0]).is_none());
}

#[test]
fn bad_log_and_ingest_settings_are_named() {
    let text = format!(
        r#"{}
[[clusters]]
name = "east"
prometheus = {{ url = "http://127.0.0.1:9091" }}
logs = {{ embedded = {{}} }}

[[clusters]]
name = "west"
prometheus = {{ url = "http://127.0.0.1:9092" }}
logs = {{ elasticsearch = {{ url = "es:9200", username = "u" }} }}

[[ingest.tokens]]
name = "shipper"
token_sha256 = "{HASH_A}"
cluster = "north"
"#,
        sample()
    );
    let message = Config::from_toml(&text, "test", &no_env())
        .unwrap_err()
        .to_string();
    for key in [
        "clusters[1].logs.embedded.dir",
        "clusters[2].logs.elasticsearch.url",
        "username and password go together",
        "ingest.tokens[0].token_sha256",
        "ingest.tokens[0].cluster",
    ] {
        assert!(message.contains(key), "{key} missing from {message}");
    }
    let plain = format!(
        "{}\n[[ingest.tokens]]\nname = \"x\"\ntoken = \"secret\"\n",
        sample()
    );
    let message = Config::from_toml(&plain, "test", &no_env())
        .unwrap_err()
        .to_string();
    assert!(message.contains("ingest.tokens[0].token"), "{message}");
}

#[test]
fn span_metrics_settings_are_checked_by_key() {
    let text = sample().replace(
        "prometheus = { url = \"http://127.0.0.1:9090\", timeout = \"10s\" }",
        "prometheus = { url = \"http://127.0.0.1:9090\", timeout = \"10s\", remote_write_url = \"ftp://x\" }\nspan_metrics_names = { preset = \"otel-collector\", service_label = \"service.name\" }",
    ) + "\n[span_metrics]\ninterval = \"0s\"\nmax_series = 0\npeer_key = \"short\"\n";
    let err = Config::from_toml(&text, "test.toml", &no_env()).unwrap_err();
    let ConfigError::Invalid { issues, .. } = &err else {
        panic!("{err}")
    };
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    for key in [
        "span_metrics.interval",
        "span_metrics.max_series",
        "span_metrics.peer_key",
        "clusters[0].span_metrics_names.service_label",
        "clusters[0].prometheus.remote_write_url",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    let ok = Config::from_toml(&sample(), "test.toml", &no_env()).unwrap();
    assert!(ok.span_metrics.enabled);
    assert_eq!(
        ok.clusters[0].prometheus.remote_write(),
        "http://127.0.0.1:9090/api/v1/write"
    );
}

#[test]
fn events_and_audit_backends_resolve_and_bad_settings_are_named() {
    let text = format!(
        r#"{}
[storage]
data_dir = "/var/lib/periscope"

[[clusters]]
name = "east"
prometheus = {{ url = "http://127.0.0.1:9091" }}
events = {{ elasticsearch = {{ url = "https://es.east:9200" }} }}
audit = {{ elasticsearch = {{ url = "https://es.east:9200", index_prefix = "east-auditing" }} }}
"#,
        sample()
    );
    let config = Config::from_toml(&text, "test", &no_env()).unwrap();
    match config.events_backend(&config.clusters[0]) {
        Some(RecordsConfig::Embedded(e)) => assert_eq!(
            e.dir.unwrap(),
            std::path::Path::new("/var/lib/periscope/events/default")
        ),
        other => panic!("expected the embedded default, got {other:?}"),
    }
    match config.audit_backend(&config.clusters[1]) {
        Some(RecordsConfig::Elasticsearch(es)) => {
            assert_eq!(es.index_prefix.as_deref(), Some("east-auditing"))
        }
        other => panic!("expected elasticsearch, got {other:?}"),
    }
    let bad = format!(
        "{}\n[[clusters]]\nname = \"west\"\nprometheus = {{ url = \"http://127.0.0.1:9092\" }}\nevents = {{ elasticsearch = {{ url = \"es:9200\", username = \"u\" }} }}\naudit = {{ embedded = {{}} }}\n\n[ingest]\nmax_line_bytes = 10\n\n[audit]\nredact_resources = [\"\"]\n",
        sample()
    );
    let message = Config::from_toml(&bad, "test", &no_env())
        .unwrap_err()
        .to_string();
    for key in [
        "clusters[1].events.elasticsearch.url",
        "clusters[1].events.elasticsearch: username and password go together",
        "clusters[1].audit.embedded.dir",
        "ingest.max_line_bytes",
        "audit.redact_resources[0]",
    ] {
        assert!(message.contains(key), "{key} missing from {message}");
    }
}
