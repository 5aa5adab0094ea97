use super::*;
use periscope_config::{MetricAccess, MetricPolicyRule};
use periscope_model::ErrorKind;

fn enforcer() -> Enforcer {
    let config = PromqlConfig {
        metric_policy: vec![MetricPolicyRule {
            metric: "kube_node_labels".into(),
            access: MetricAccess::Public,
            label: None,
        }],
        ..PromqlConfig::default()
    };
    Enforcer::from_config(&config).with_peer_key(peer_key())
}

fn scope() -> Scope {
    Scope::namespaces(["team-a", "team-a-dev"])
}

const SCOPE_RE: &str = r#"namespace=~"^(team\\-a|team\\-a\\-dev)$""#;

fn rewrite(q: &str) -> Result<String> {
    enforcer()
        .enforce_query(q, &scope(), &Limits::default())
        .map(|c| c.into_owned())
}

fn refused(q: &str) -> ErrorKind {
    match rewrite(q) {
        Ok(r) => panic!("{:.200} was accepted as {:.300}", q, r),
        Err(e) => e.kind(),
    }
}

#[test]
fn every_selector_gets_the_scope_matcher() {
    let cases = [
        ("up", 1),
        ("rate(http_requests_total[5m])", 1),
        (
            "sum by (pod) (rate(container_cpu_usage_seconds_total{container!=\"\"}[5m]))",
            1,
        ),
        ("topk(scalar(count(kube_pod_info)), up)", 2),
        ("count_values(\"value\", up)", 1),
        ("quantile(scalar(up), up)", 2),
        ("max_over_time(rate(x[1m])[10m:1m])", 1),
        ("up @ 1700000000 offset 5m", 1),
        ("up @ start()", 1),
        ("a and on(namespace) b or c unless d", 4),
        (
            "label_replace(up, \"namespace\", \"team-b\", \"\", \"\")",
            1,
        ),
        ("absent(nonexistent)", 1),
        ("-up", 1),
        ("(up)", 1),
        (
            "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
            1,
        ),
        ("{__name__=~\"http_.*\"}", 1),
        (
            "kube_pod_info * on(pod) group_left(node) kube_pod_status_ready",
            2,
        ),
        ("1 + 2", 0),
    ];
    for (q, selectors) in cases {
        let out = rewrite(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(out.matches(SCOPE_RE).count(), selectors, "{q} -> {out}");
    }
}

#[test]
fn aggregation_parameters_are_enforced() {
    let out = rewrite("topk(scalar(count(kube_pod_info{namespace=\"team-a\"})), up)").unwrap();
    assert_eq!(out.matches(SCOPE_RE).count(), 1, "{out}");
    assert!(
        out.contains(r#"namespace="team-a",namespace=~"^(team\\-a)$""#),
        "{out}"
    );
    assert_eq!(
        refused("topk(scalar(count(kube_pod_info{namespace=\"team-b\"})), up)"),
        ErrorKind::Forbidden
    );
}

#[test]
fn foreign_namespaces_are_refused_not_rewritten() {
    for q in [
        "up{namespace=\"team-b\"}",
        "up{namespace=~\"team-a|team-b\"}",
        "up{namespace=~\"team-b.*\"}",
        "up{namespace=\"\"}",
        "up{namespace!=\"team-a\", namespace!=\"team-a-dev\"}",
        "up{namespace!~\"team-a.*\"}",
        "up or other{namespace=\"kube-system\"}",
        "max_over_time(rate(x{namespace=\"team-b\"}[5m])[1h:5m])",
    ] {
        assert_eq!(refused(q), ErrorKind::Forbidden, "{q}");
    }
}

#[test]
fn overlapping_namespace_matchers_are_intersected() {
    let out = rewrite("up{namespace=~\"team-.*\"}").unwrap();
    assert!(out.contains(SCOPE_RE), "{out}");
    let out = rewrite("up{namespace!=\"team-a\"}").unwrap();
    assert!(out.contains(r#"namespace=~"^(team\\-a\\-dev)$""#), "{out}");
    let out = rewrite("up{namespace=\"team-a\"}").unwrap();
    assert!(out.contains(r#"namespace=~"^(team\\-a)$""#), "{out}");
}

#[test]
fn or_inside_braces_is_refused() {
    assert_eq!(
        refused("up{namespace=\"team-b\" or job=\"x\"}"),
        ErrorKind::BadRequest
    );
}

#[test]
fn cluster_only_metrics_are_forbidden_and_public_ones_pass() {
    assert_eq!(refused("node_cpu_seconds_total"), ErrorKind::Forbidden);
    assert_eq!(
        refused("sum(kube_node_status_capacity)"),
        ErrorKind::Forbidden
    );
    assert_eq!(refused("{__name__=\"node_load1\"}"), ErrorKind::Forbidden);
    assert_eq!(rewrite("kube_node_labels").unwrap(), "kube_node_labels");
    // Namespaced series of node-level components stay visible, scoped.
    let pvc = rewrite("kubelet_volume_stats_available_bytes").unwrap();
    assert!(pvc.contains(SCOPE_RE), "{pvc}");
}

#[test]
fn unlisted_functions_are_refused() {
    assert_eq!(refused("sort_by_label(up, \"pod\")"), ErrorKind::BadRequest);
    assert_eq!(refused("limitk(2, up)"), ErrorKind::BadRequest);
}

#[test]
fn escaping_cannot_smuggle_selectors() {
    // A value that would close the string if printed unescaped.
    let q = r#"up{job="x\"} or secret{namespace=\"team-b\"} or up{job=\""}"#;
    let out = rewrite(q).unwrap();
    assert_eq!(out.matches(SCOPE_RE).count(), 1, "{out}");
}

#[test]
fn limits_apply_to_subqueries_and_ranges() {
    assert_eq!(
        refused("max_over_time(up[1d:1s])"),
        ErrorKind::LimitExceeded
    );
    assert_eq!(refused("rate(up[400d])"), ErrorKind::LimitExceeded);
    assert_eq!(refused("up @ -100"), ErrorKind::BadRequest);
}

#[test]
fn empty_scope_sees_nothing() {
    let e = enforcer();
    let err = e
        .enforce_query(
            "up",
            &Scope::namespaces(Vec::<String>::new()),
            &Limits::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
}

#[test]
fn cluster_admins_pass_through_unchanged() {
    let e = enforcer();
    let q = "sum(node_cpu_seconds_total{namespace=\"x\"})  by (mode)";
    assert_eq!(
        e.enforce_query(q, &Scope::ClusterWide, &Limits::default())
            .unwrap(),
        q
    );
}

#[test]
fn oversized_and_deep_queries_are_refused_before_parsing() {
    let deep = format!("{}up{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(refused(&deep), ErrorKind::BadRequest);
    let long = "up+".repeat(10_000) + "up";
    assert_eq!(refused(&long), ErrorKind::BadRequest);
}

#[test]
fn the_longest_admitted_flat_chain_parses_on_a_small_stack() {
    // The parser recurses per binary operator; the operator limit must keep the
    // deepest admissible chain well inside a 2 MiB thread stack.
    let max = PromqlConfig::default().max_operators;
    let chain = "up+".repeat(max + 1) + "up";
    assert_eq!(refused(&chain), ErrorKind::BadRequest);
    let chain = "up+".repeat(max - 1) + "up";
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || rewrite(&chain).map(|s| s.len()))
        .unwrap();
    assert!(handle.join().expect("no stack overflow").is_ok());
}

#[test]
fn match_selectors_are_scoped() {
    let e = enforcer();
    let out = e.enforce_match("{job=\"x\"}", &scope()).unwrap();
    assert!(out.contains(SCOPE_RE), "{out}");
    assert_eq!(
        e.enforce_match("rate(up[5m])", &scope())
            .unwrap_err()
            .kind(),
        ErrorKind::BadRequest
    );
    assert_eq!(
        e.enforce_match("up{namespace=\"team-b\"}", &scope())
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );
    let defaults = e.default_matches(&scope()).unwrap().unwrap();
    assert_eq!(defaults.len(), 2);
    assert_eq!(defaults[0], r#"{__name__=~"kube_node_labels"}"#);
    let scoped = format!(
        r#"{{{SCOPE_RE},server_namespace=~"^(team\\-a|team\\-a\\-dev)?$",opaque_peer!~"{}"}}"#,
        tokens()
    );
    assert_eq!(defaults[1], scoped);
    // Defaults must themselves pass enforcement.
    assert!(e.enforce_match(&defaults[1], &scope()).is_ok());
}

fn tokens() -> String {
    peer_key().tokens_regex(&["team-a".to_string(), "team-a-dev".to_string()].into())
}

fn peer_key() -> PeerKey {
    PeerKey::from_secret("test")
}

#[test]
fn service_graph_selectors_get_the_edge_matchers_and_others_do_not() {
    let e = enforcer();
    let edge_matchers = [
        r#"server_namespace=~"^(team\\-a|team\\-a\\-dev)?$""#.to_string(),
        format!(r#"opaque_peer!~"{}""#, tokens()),
    ];
    for q in [
        "traces_service_graph_request_total",
        r#"sum by (client, server) (rate(traces_service_graph_request_server_seconds_sum{client="a"}[5m]))"#,
        r#"{__name__=~"traces_service_graph_.+"}"#,
        r#"{job="x"}"#,
    ] {
        let out = rewrite(q).unwrap();
        for m in &edge_matchers {
            assert!(out.contains(m.as_str()), "{q} → {out}");
        }
    }
    for q in [
        "traces_spanmetrics_calls_total",
        r#"up{job="x"}"#,
        r#"{__name__="traces_spanmetrics_latency_bucket"}"#,
    ] {
        let out = rewrite(q).unwrap();
        assert!(!out.contains("opaque_peer"), "{q} → {out}");
        assert!(out.contains(SCOPE_RE), "{q} → {out}");
    }
    fn admin<'q>(e: &Enforcer, q: &'q str) -> Cow<'q, str> {
        e.enforce_query(q, &Scope::ClusterWide, &Limits::default())
            .unwrap()
    }
    assert!(matches!(admin(&e, "up"), Cow::Borrowed(_)));
    assert!(matches!(
        admin(&e, "traces_spanmetrics_calls_total"),
        Cow::Borrowed(_)
    ));
    let out = admin(&e, "sum(rate(traces_service_graph_request_total[5m]))");
    assert_eq!(
        out,
        r#"sum(rate(traces_service_graph_request_total{opaque_peer=""}[5m]))"#
    );
    assert_eq!(
        e.enforce_match("traces_service_graph_request_total", &Scope::ClusterWide)
            .unwrap(),
        r#"traces_service_graph_request_total{opaque_peer=""}"#
    );
}

#[test]
fn tenants_cannot_unset_the_edge_matchers() {
    // A tenant's own matchers on the service-graph labels are ANDed with the
    // enforced ones, never replace them.
    for q in [
        r#"traces_service_graph_request_total{opaque_peer=""}"#,
        r#"traces_service_graph_request_total{opaque_peer=~".*"}"#,
        r#"traces_service_graph_request_total{server_namespace="team-b"}"#,
    ] {
        let out = rewrite(q).unwrap();
        assert!(
            out.contains(&format!(r#"opaque_peer!~"{}""#, tokens())),
            "{out}"
        );
        assert!(out.contains("server_namespace=~"), "{out}");
    }
}

#[test]
fn alternate_scope_labels_are_used_and_nameless_selectors_refused() {
    let config = PromqlConfig {
        metric_policy: vec![MetricPolicyRule {
            metric: "nginx_ingress_.*".into(),
            access: MetricAccess::Scoped,
            label: Some("exported_namespace".into()),
        }],
        ..PromqlConfig::default()
    };
    let e = Enforcer::from_config(&config);
    let out = e
        .enforce_query(
            "nginx_ingress_controller_requests",
            &scope(),
            &Limits::default(),
        )
        .unwrap();
    assert_eq!(
        out,
        r#"nginx_ingress_controller_requests{exported_namespace=~"^(team\\-a|team\\-a\\-dev)$"}"#
    );
    let err = e
        .enforce_query("{__name__=~\"nginx.*\"}", &scope(), &Limits::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
}

#[test]
fn cached_decisions_equal_fresh_ones_and_depend_on_scope_and_limits() {
    let cached = enforcer();
    let limits = Limits::default();
    // One shared set, as the scope resolver hands out: repeated calls hit the cache.
    let alice = scope();
    for q in [
        "up",
        "up{namespace=\"team-b\"}",
        "topk(scalar(count(kube_pod_info)), up)",
        "max_over_time(up[1d:1s])",
    ] {
        let fresh = enforcer().without_decision_cache();
        for _ in 0..2 {
            let a = cached
                .enforce_query(q, &alice, &limits)
                .map(|c| c.into_owned());
            let b = fresh
                .enforce_query(q, &scope(), &limits)
                .map(|c| c.into_owned());
            assert_eq!(a, b, "{q}");
        }
    }
    let team_b = Scope::namespaces(["team-b"]);
    assert!(cached
        .enforce_query("up{namespace=\"team-b\"}", &team_b, &limits)
        .is_ok());
    assert!(cached
        .enforce_query("up{namespace=\"team-b\"}", &alice, &limits)
        .is_err());
    let generous = Limits {
        max_subquery_points: 1_000_000,
        ..Limits::default()
    };
    assert!(cached
        .enforce_query("max_over_time(up[1d:1s])", &alice, &generous)
        .is_ok());
    assert_eq!(
        cached
            .enforce_query("up", &Scope::ClusterWide, &limits)
            .unwrap(),
        "up"
    );
}
