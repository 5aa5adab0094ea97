//! Whole-configuration checks, each reported with the key path it concerns.

use crate::{
    Config, ConfigError, EmbeddedLogsConfig, Issue, LogsConfig, RecordsConfig, Role, TracesConfig,
};
use periscope_model::is_label_name;
use std::collections::HashSet;
use std::net::SocketAddr;

/// Rejects `token = "..."` in principals before deserialisation can say only
/// "unknown field": plain-text tokens must never be stored in configuration.
pub(crate) fn reject_plain_tokens(table: &toml::Table, source: &str) -> Result<(), ConfigError> {
    let principals = table.get("principals").map(|p| ("principals", p));
    let ingest = table
        .get("ingest")
        .and_then(|i| i.get("tokens"))
        .map(|t| ("ingest.tokens", t));
    let issues: Vec<Issue> = principals
        .into_iter()
        .chain(ingest)
        .filter_map(|(key, v)| v.as_array().map(|entries| (key, entries)))
        .flat_map(|(key, entries)| {
            entries
                .iter()
                .enumerate()
                .filter(|(_, p)| p.get("token").is_some())
                .map(move |(i, _)| {
                    Issue::new(
                        format!("{key}[{i}].token"),
                        "plain-text tokens are not accepted; store the hex SHA-256 of the token as token_sha256 (e.g. `printf %s TOKEN | sha256sum`)",
                    )
                })
        })
        .collect();
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            source_name: source.to_string(),
            issues,
        })
    }
}

/// Every inconsistency in `config`; empty when it is valid.
pub(crate) fn validate(config: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();
    check_listen(
        &mut issues,
        "server.http_listen",
        &config.server.http_listen,
    );
    check_listen(
        &mut issues,
        "server.grpc_listen",
        &config.server.grpc_listen,
    );
    for (key, value) in [
        ("server.otlp_grpc_listen", &config.server.otlp_grpc_listen),
        ("server.otlp_http_listen", &config.server.otlp_http_listen),
    ] {
        if let Some(value) = value {
            check_listen(&mut issues, key, value);
        }
    }

    for (key, value, max) in [
        (
            "monitoring.metrics_per_query",
            config.monitoring.metrics_per_query,
            100,
        ),
        (
            "monitoring.parallel_queries",
            config.monitoring.parallel_queries,
            64,
        ),
    ] {
        if !(1..=max).contains(&value) {
            issues.push(Issue::new(key, format!("must be from 1 to {max}")));
        }
    }

    let sm = &config.span_metrics;
    for (key, zero) in [
        ("span_metrics.interval", sm.interval.is_zero()),
        ("span_metrics.wait", sm.wait.is_zero()),
        ("span_metrics.stale_after", sm.stale_after.is_zero()),
        ("span_metrics.max_pending", sm.max_pending == 0),
        ("span_metrics.max_series", sm.max_series == 0),
    ] {
        if zero {
            issues.push(Issue::new(key, "must be greater than zero"));
        }
    }
    if sm.peer_key.as_deref().is_some_and(|k| k.len() < 16) {
        issues.push(Issue::new(
            "span_metrics.peer_key",
            "must be at least 16 characters (it keeps other tenants' namespaces unguessable)",
        ));
    }

    if let Some(a) = &config.alerting {
        for (i, url) in a.alertmanagers.iter().enumerate() {
            if !is_http_url(url) {
                issues.push(Issue::new(
                    format!("alerting.alertmanagers[{i}]"),
                    format!("{url:?} is not an http:// or https:// URL with a host"),
                ));
            }
        }
        if let Some(url) = &a.external_url {
            if !is_http_url(url) {
                issues.push(Issue::new(
                    "alerting.external_url",
                    format!("{url:?} is not an http:// or https:// URL with a host"),
                ));
            }
        }
        if a.resend_delay.is_zero() {
            issues.push(Issue::new(
                "alerting.resend_delay",
                "must be greater than zero",
            ));
        }
        if let Some(c) = &a.cluster {
            if !config.clusters.iter().any(|k| &k.name == c) {
                issues.push(Issue::new(
                    "alerting.cluster",
                    format!("no cluster is named {c:?}"),
                ));
            }
        }
    }

    if config.clusters.is_empty() {
        issues.push(Issue::new(
            "clusters",
            "at least one [[clusters]] entry with a prometheus URL is required",
        ));
    }
    let mut cluster_names = HashSet::new();
    let prometheus_name = regex::Regex::new("^[a-zA-Z_:][a-zA-Z0-9_:]*$").expect("valid regex");
    for (i, c) in config.clusters.iter().enumerate() {
        if !is_dns_label(&c.name) {
            issues.push(Issue::new(
                format!("clusters[{i}].name"),
                format!(
                    "{:?} is not a valid name (lower-case letters, digits and '-')",
                    c.name
                ),
            ));
        }
        if !cluster_names.insert(c.name.as_str()) {
            issues.push(Issue::new(
                format!("clusters[{i}].name"),
                format!("duplicate cluster {:?}", c.name),
            ));
        }
        let url = c.prometheus.url.as_str();
        if !is_http_url(url) {
            issues.push(Issue::new(
                format!("clusters[{i}].prometheus.url"),
                format!("{url:?} is not an http:// or https:// URL with a host"),
            ));
        }
        if let Some(names) = &c.span_metrics_names {
            for (key, value) in [
                ("calls", &names.calls),
                ("latency_bucket", &names.latency_bucket),
                ("service_label", &names.service_label),
                ("span_name_label", &names.span_name_label),
            ] {
                if let Some(v) = value.as_ref().filter(|v| !prometheus_name.is_match(v)) {
                    issues.push(Issue::new(
                        format!("clusters[{i}].span_metrics_names.{key}"),
                        format!("{v:?} is not a Prometheus metric or label name"),
                    ));
                }
            }
        }
        if let Some(url) = &c.prometheus.remote_write_url {
            if !is_http_url(url) {
                issues.push(Issue::new(
                    format!("clusters[{i}].prometheus.remote_write_url"),
                    format!("{url:?} is not an http:// or https:// URL with a host"),
                ));
            }
        }
        if c.prometheus.timeout.is_zero() {
            issues.push(Issue::new(
                format!("clusters[{i}].prometheus.timeout"),
                "must be greater than zero",
            ));
        }
        match &c.traces {
            Some(TracesConfig::Embedded(e)) => {
                let key = format!("clusters[{i}].traces.embedded");
                check_embedded(&mut issues, &key, e, config);
            }
            Some(TracesConfig::Jaeger(j)) => {
                if !is_http_url(&j.url) {
                    issues.push(Issue::new(
                        format!("clusters[{i}].traces.jaeger.url"),
                        format!("{:?} is not an http:// or https:// URL", j.url),
                    ));
                }
                if j.timeout.is_zero() {
                    issues.push(Issue::new(
                        format!("clusters[{i}].traces.jaeger.timeout"),
                        "must be greater than zero",
                    ));
                }
            }
            None => {}
        }
        for (signal, records) in [("events", &c.events), ("audit", &c.audit)] {
            match records {
                Some(RecordsConfig::Embedded(e)) => {
                    let key = format!("clusters[{i}].{signal}.embedded");
                    check_embedded(&mut issues, &key, e, config);
                }
                Some(RecordsConfig::Elasticsearch(es)) => check_elasticsearch(
                    &mut issues,
                    &format!("clusters[{i}].{signal}.elasticsearch"),
                    &es.url,
                    (
                        es.username.is_some(),
                        es.password.is_some(),
                        es.api_key.is_some(),
                    ),
                    es.timeout,
                ),
                None => {}
            }
        }
        match &c.logs {
            Some(LogsConfig::Embedded(e)) => {
                check_embedded(
                    &mut issues,
                    &format!("clusters[{i}].logs.embedded"),
                    e,
                    config,
                );
            }
            Some(LogsConfig::Elasticsearch(es)) => check_elasticsearch(
                &mut issues,
                &format!("clusters[{i}].logs.elasticsearch"),
                &es.url,
                (
                    es.username.is_some(),
                    es.password.is_some(),
                    es.api_key.is_some(),
                ),
                es.timeout,
            ),
            None => {}
        }
    }

    if config.ingest.max_line_bytes < 1024 {
        issues.push(Issue::new("ingest.max_line_bytes", "must be at least 1024"));
    }
    let check = &config.ingest.namespace_check;
    let metric_name = |m: &str| {
        m.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && m.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    if !metric_name(&check.metric) {
        issues.push(Issue::new(
            "ingest.namespace_check.metric",
            format!("{:?} is not a metric name", check.metric),
        ));
    }
    if check.lookback.is_zero() || check.refresh_interval.is_zero() {
        issues.push(Issue::new(
            "ingest.namespace_check",
            "lookback and refresh_interval must be longer than zero",
        ));
    }
    for (i, r) in config.audit.redact_resources.iter().enumerate() {
        if r.is_empty() || r.contains('/') {
            issues.push(Issue::new(
                format!("audit.redact_resources[{i}]"),
                format!("{r:?} is not a resource name like secrets"),
            ));
        }
    }

    let mut ingest_names = HashSet::new();
    for (i, t) in config.ingest.tokens.iter().enumerate() {
        let key = |field: &str| format!("ingest.tokens[{i}].{field}");
        if t.name.is_empty() || !ingest_names.insert(t.name.as_str()) {
            issues.push(Issue::new(key("name"), "must be present and unique"));
        }
        if !is_sha256_hex(&t.token_sha256) {
            issues.push(Issue::new(
                key("token_sha256"),
                "must be 64 lower-case hex digits (the SHA-256 of the token)",
            ));
        }
        if config
            .principals
            .iter()
            .any(|p| p.token_sha256 == t.token_sha256)
        {
            issues.push(Issue::new(
                key("token_sha256"),
                "an ingest token must not also be a principal's token",
            ));
        }
        if let Some(c) = &t.cluster {
            if !config.clusters.iter().any(|k| &k.name == c) {
                issues.push(Issue::new(
                    key("cluster"),
                    format!("no cluster is named {c:?}"),
                ));
            }
        }
    }
    if config.ingest.max_body_bytes < 1024 {
        issues.push(Issue::new("ingest.max_body_bytes", "must be at least 1024"));
    }
    if !(1..=1024).contains(&config.ingest.max_concurrent_requests) {
        issues.push(Issue::new(
            "ingest.max_concurrent_requests",
            "must be from 1 to 1024",
        ));
    }

    let mut workspace_names = HashSet::new();
    for (i, w) in config.workspaces.iter().enumerate() {
        if w.name.is_empty() {
            issues.push(Issue::new(
                format!("workspaces[{i}].name"),
                "must not be empty",
            ));
        }
        if !workspace_names.insert(w.name.as_str()) {
            issues.push(Issue::new(
                format!("workspaces[{i}].name"),
                format!("duplicate workspace {:?}", w.name),
            ));
        }
        check_namespaces(
            &mut issues,
            &format!("workspaces[{i}].namespaces"),
            &w.namespaces,
        );
    }

    let discovery = config.workspace_discovery.is_some();
    if let Some(d) = &config.workspace_discovery {
        if let Some(c) = &d.cluster {
            if !cluster_names.contains(c.as_str()) {
                issues.push(Issue::new(
                    "workspace_discovery.cluster",
                    format!("unknown cluster {c:?}"),
                ));
            }
        }
        if !is_label_name(&d.metric) {
            issues.push(Issue::new(
                "workspace_discovery.metric",
                format!("{:?} is not a metric name", d.metric),
            ));
        }
        if !is_label_name(&d.workspace_label) {
            issues.push(Issue::new(
                "workspace_discovery.workspace_label",
                format!("{:?} is not a label name", d.workspace_label),
            ));
        }
        if d.refresh_interval.is_zero() {
            issues.push(Issue::new(
                "workspace_discovery.refresh_interval",
                "must be greater than zero",
            ));
        }
    }

    let mut principal_names = HashSet::new();
    let mut token_hashes = HashSet::new();
    for (i, p) in config.principals.iter().enumerate() {
        let key = |field: &str| format!("principals[{i}].{field}");
        if p.name.is_empty() {
            issues.push(Issue::new(key("name"), "must not be empty"));
        }
        if !principal_names.insert(p.name.as_str()) {
            issues.push(Issue::new(
                key("name"),
                format!("duplicate principal {:?}", p.name),
            ));
        }
        if !is_sha256_hex(&p.token_sha256) {
            issues.push(Issue::new(
                key("token_sha256"),
                "must be 64 lower-case hex digits (the SHA-256 of the token)",
            ));
        } else if !token_hashes.insert(p.token_sha256.as_str()) {
            issues.push(Issue::new(
                key("token_sha256"),
                "two principals share the same token",
            ));
        }
        match p.role {
            Role::ClusterAdmin => {
                if !p.workspaces.is_empty() || !p.namespaces.is_empty() {
                    issues.push(Issue::new(
                        key("role"),
                        "a cluster-admin sees everything; remove workspaces/namespaces",
                    ));
                }
            }
            Role::WorkspaceViewer => {
                if p.workspaces.is_empty() {
                    issues.push(Issue::new(
                        key("workspaces"),
                        "a workspace-viewer needs at least one workspace",
                    ));
                }
                if !p.namespaces.is_empty() {
                    issues.push(Issue::new(key("namespaces"), "a workspace-viewer is scoped by workspaces; use role namespace-viewer for namespaces"));
                }
                for w in &p.workspaces {
                    if !workspace_names.contains(w.as_str()) && !discovery {
                        issues.push(Issue::new(
                            key("workspaces"),
                            format!("unknown workspace {w:?} (declare it in [[workspaces]] or enable [workspace_discovery])"),
                        ));
                    }
                }
            }
            Role::NamespaceViewer => {
                if p.namespaces.is_empty() {
                    issues.push(Issue::new(
                        key("namespaces"),
                        "a namespace-viewer needs at least one namespace",
                    ));
                }
                if !p.workspaces.is_empty() {
                    issues.push(Issue::new(key("workspaces"), "a namespace-viewer is scoped by namespaces; use role workspace-viewer for workspaces"));
                }
                check_namespaces(&mut issues, &key("namespaces"), &p.namespaces);
            }
        }
    }

    let l = &config.limits;
    for (field, zero) in [
        ("max_points_per_series", l.max_points_per_series == 0),
        ("max_range", l.max_range.is_zero()),
        ("max_subquery_points", l.max_subquery_points == 0),
        ("query_timeout", l.query_timeout.is_zero()),
        ("max_concurrent_queries", l.max_concurrent_queries == 0),
        ("min_rule_interval", l.min_rule_interval.is_zero()),
        ("max_rules_per_group", l.max_rules_per_group == 0),
        ("max_rule_groups", l.max_rule_groups == 0),
        ("max_rule_group_bytes", l.max_rule_group_bytes == 0),
        ("max_receivers", l.max_receivers == 0),
        ("max_receiver_bytes", l.max_receiver_bytes == 0),
        ("max_silences", l.max_silences == 0),
        ("max_silence_bytes", l.max_silence_bytes == 0),
        ("max_log_lines", l.max_log_lines == 0),
        ("max_log_series", l.max_log_series == 0),
    ] {
        if zero {
            issues.push(Issue::new(
                format!("limits.{field}"),
                "must be greater than zero",
            ));
        }
    }

    let q = &config.promql;
    if q.max_query_bytes == 0 || q.max_nesting_depth == 0 || q.max_operators == 0 {
        issues.push(Issue::new(
            "promql",
            "max_query_bytes, max_nesting_depth and max_operators must be greater than zero",
        ));
    }
    if !is_label_name(&q.scope_label) {
        issues.push(Issue::new(
            "promql.scope_label",
            format!("{:?} is not a label name", q.scope_label),
        ));
    }
    for (i, rule) in q.metric_policy.iter().enumerate() {
        if let Err(e) = regex::Regex::new(&format!("^(?:{})$", rule.metric)) {
            issues.push(Issue::new(
                format!("promql.metric_policy[{i}].metric"),
                format!("invalid regex: {e}"),
            ));
        }
        match (&rule.label, rule.access) {
            (Some(label), crate::MetricAccess::Scoped) if !is_label_name(label) => {
                issues.push(Issue::new(
                    format!("promql.metric_policy[{i}].label"),
                    format!("{label:?} is not a label name"),
                ));
            }
            (Some(_), crate::MetricAccess::Public | crate::MetricAccess::Cluster) => {
                issues.push(Issue::new(
                    format!("promql.metric_policy[{i}].label"),
                    "label applies only to access = \"scoped\"",
                ));
            }
            _ => {}
        }
    }
    issues
}

fn check_listen(issues: &mut Vec<Issue>, key: &str, value: &str) {
    if value.parse::<SocketAddr>().is_err() {
        issues.push(Issue::new(
            key,
            format!("{value:?} is not an IP:port address"),
        ));
    }
}

fn check_namespaces(issues: &mut Vec<Issue>, key: &str, namespaces: &[String]) {
    for ns in namespaces {
        if !is_dns_label(ns) {
            issues.push(Issue::new(
                key,
                format!("{ns:?} is not a Kubernetes namespace name (RFC 1123 label: a-z, 0-9, '-', at most 63)"),
            ));
        }
    }
}

/// RFC 1123 DNS label, the form of a Kubernetes namespace name.
pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// An `http://` or `https://` URL with a host.
fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_http_url(url: &str) -> bool {
    url.strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .is_some_and(|h| !h.is_empty() && !h.starts_with('/'))
}

/// An embedded store needs a directory (its own or under `[storage]`), a
/// flush interval and room for at least 1 MiB in memory.
/// An Elasticsearch connection: a URL, one way to authenticate, a timeout.
/// `auth` says whether username, password and api_key are set.
fn check_elasticsearch(
    issues: &mut Vec<Issue>,
    key: &str,
    url: &str,
    (username, password, api_key): (bool, bool, bool),
    timeout: std::time::Duration,
) {
    if !is_http_url(url) {
        issues.push(Issue::new(
            format!("{key}.url"),
            format!("{url:?} is not an http:// or https:// URL with a host"),
        ));
    }
    if api_key && username {
        issues.push(Issue::new(key, "use either username/password or api_key"));
    }
    if username != password {
        issues.push(Issue::new(key, "username and password go together"));
    }
    if timeout.is_zero() {
        issues.push(Issue::new(
            format!("{key}.timeout"),
            "must be greater than zero",
        ));
    }
}

fn check_embedded(issues: &mut Vec<Issue>, key: &str, e: &EmbeddedLogsConfig, config: &Config) {
    if e.dir.is_none() && config.storage.is_none() {
        issues.push(Issue::new(
            format!("{key}.dir"),
            "set a directory, or [storage] data_dir",
        ));
    }
    if e.flush_interval.is_zero() || e.max_buffered_bytes < (1 << 20) {
        issues.push(Issue::new(
            key.to_string(),
            "flush_interval must be greater than zero and max_buffered_bytes at least 1 MiB",
        ));
    }
}
