//! The built-in catalog: complete, valid, and every tenant-level template
//! accepted by the tenancy enforcement for a namespace scope.

use periscope_config::{Limits, PromqlConfig};
use periscope_model::{ErrorKind, Scope};
use periscope_monitoring::{Catalog, Filters, Level, Placeholder};
use periscope_tenancy::Enforcer;

#[test]
fn the_builtin_catalog_has_kubesphere_names_at_every_level() {
    let catalog = Catalog::builtin();
    assert!(catalog.all().len() >= 60, "{} metrics", catalog.all().len());
    for level in Level::ALL {
        let count = catalog.level(level).count();
        assert!(count >= 5, "only {count} {level} metrics");
        for m in catalog.level(level) {
            assert!(
                m.name.starts_with(level.as_str()),
                "{} is not named after its level {level}",
                m.name
            );
        }
    }
    for name in [
        "node_cpu_utilisation",
        "pod_memory_usage_wo_cache",
        "workload_cpu_usage",
        "namespace_pod_count",
        "workspace_cpu_usage",
        "cluster_node_total",
        "container_cpu_usage",
        "service_request_rate",
        "service_error_ratio",
        "service_latency_p95",
        "operation_latency_p99",
        "namespace_service_request_rate",
        "workspace_service_request_rate",
    ] {
        assert!(catalog.get(name).is_some(), "{name} missing");
    }
}

fn tenant_filters() -> Filters {
    let mut f = Filters::default();
    f.set(Placeholder::Namespace, vec!["team-a".into()]);
    f
}

#[test]
fn tenant_level_templates_pass_enforcement_and_cluster_levels_are_refused() {
    let catalog = Catalog::builtin();
    let enforcer = Enforcer::from_config(&PromqlConfig::default());
    let scope = Scope::namespaces(["team-a", "team-a-dev"]);
    let limits = Limits::default();
    for m in catalog.all() {
        let query = m.template.render(&tenant_filters());
        let result = enforcer.enforce_query(&query, &scope, &limits);
        match m.level {
            // Tenants never reach these levels (the API answers 403); the
            // node-exporter series they read are cluster-only anyway.
            Level::Cluster | Level::Node => {
                if m.template.to_string().contains("node-exporter") {
                    let e = result.expect_err(&m.name);
                    assert_eq!(e.kind(), ErrorKind::Forbidden, "{}: {e}", m.name);
                }
            }
            _ => {
                if let Err(e) = result {
                    panic!("{} refused for a tenant: {e}\n{query}", m.name);
                }
            }
        }
    }
    for level in [
        Level::Namespace,
        Level::Workload,
        Level::Pod,
        Level::Container,
        Level::Service,
        Level::Operation,
    ] {
        let query = catalog.inventory(level).unwrap().render(&tenant_filters());
        enforcer
            .enforce_query(&query, &scope, &limits)
            .unwrap_or_else(|e| panic!("{level} inventory refused: {e}"));
    }
}

#[test]
fn broken_catalogs_are_refused_with_the_entry_named() {
    let base = r#"
[levels.node]
inventory = 'kube_node_info'
[levels.namespace]
inventory = 'kube_namespace_labels'
[levels.workload]
inventory = 'kube_pod_owner'
[levels.pod]
inventory = 'kube_pod_info'
[levels.container]
inventory = 'kube_pod_container_info'
"#;
    let metric = |body: &str| format!("{base}\n[[metrics]]\n{body}");
    let cases = [
        (
            metric("name = \"node_x\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = 'sum('"),
            "metric \"node_x\": query does not parse",
        ),
        (
            metric("name = \"node_x\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = 'x{a=~\"$nope\"}'"),
            "unknown placeholder",
        ),
        (
            metric("name = \"node_x\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = '{{missing}}'"),
            "unknown snippet {{missing}}",
        ),
        (
            metric("name = \"Node-X\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = 'x'"),
            "lower-case",
        ),
        (
            metric("name = \"node_x\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = 'x'\nworkspace = \"workspace_x\""),
            "only namespace metrics",
        ),
        (
            format!(
                "{}\n[[metrics]]\nname = \"node_x\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = 'x'",
                metric("name = \"node_x\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = 'x'")
            ),
            "declared twice",
        ),
        (
            metric("name = \"node_x\"\nlevel = \"node\"\nunit = \"u\"\nhelp = \"h\"\nquery = 'x'\ncolour = 1"),
            "unknown field",
        ),
    ];
    for (text, expected) in cases {
        let e = Catalog::from_toml(&text).expect_err(expected);
        assert!(e.0.contains(expected), "{e} does not mention {expected:?}");
    }
    let without_pods = base.replace("[levels.pod]\ninventory = 'kube_pod_info'", "");
    let e = Catalog::from_toml(&without_pods).unwrap_err();
    assert!(e.0.contains("levels.pod.inventory is missing"), "{e}");
}
