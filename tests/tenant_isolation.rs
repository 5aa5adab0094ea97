//! Adversarial tenant-isolation suite against a real Prometheus: every request
//! tries to reach outside alice's workspace (team-a, team-a-dev). Each case
//! asserts the exact status and, when it succeeds, that no series outside the
//! scope came back (and, where data is expected, that some did).

mod common;

use common::*;

const ALICE: &str = "alice";

struct Case {
    name: &'static str,
    path: &'static str,
    params: Vec<(&'static str, String)>,
    status: u16,
    /// For 200: at least this many results must come back.
    min_results: usize,
    /// The answer is a list of namespace values (label values of `namespace`).
    values_are_namespaces: bool,
}

fn query(name: &'static str, q: &str, status: u16, min_results: usize) -> Case {
    Case {
        name,
        path: "/prometheus/api/v1/query",
        params: vec![("query", q.to_string()), ("time", eval_time())],
        status,
        min_results,
        values_are_namespaces: false,
    }
}

fn matcher_api(
    name: &'static str,
    path: &'static str,
    matches: &[&str],
    status: u16,
    min_results: usize,
) -> Case {
    Case {
        name,
        path,
        params: matches.iter().map(|m| ("match[]", m.to_string())).collect(),
        status,
        min_results,
        values_are_namespaces: path.ends_with("/label/namespace/values"),
    }
}

fn cases() -> Vec<Case> {
    let t = eval_time();
    let start = (prometheus().sample().eval_time() - 600).to_string();
    let deep = format!("{}up{}", "(".repeat(80), ")".repeat(80));
    let chain = "up+".repeat(300) + "up";
    let huge = format!("up{{pod=\"{}\"}}", "x".repeat(20_000));
    vec![
        query("plain selector", "up", 200, 6),
        query("foreign namespace", "up{namespace=\"team-b\"}", 403, 0),
        query("negation keeps the rest of the scope", "up{namespace!=\"team-a\"}", 200, 3),
        query("match-all regex", "up{namespace=~\".*\"}", 200, 6),
        query("match-any regex", "up{namespace=~\".+\"}", 200, 6),
        query("alternation naming a foreign namespace", "up{namespace=~\"team-a|team-b\"}", 403, 0),
        query("alternation of foreign namespaces", "up{namespace=~\"team-b|kube-system\"}", 403, 0),
        query("negated regex leaving nothing", "up{namespace!~\"team-a.*\"}", 403, 0),
        query("empty namespace (series without the label)", "up{namespace=\"\"}", 403, 0),
        query("case-insensitive regex", "up{namespace=~\"(?i)TEAM-B\"}", 403, 0),
        query("anchored regex", "up{namespace=~\"^team-b$\"}", 403, 0),
        query("escaped pipe is a literal", "up{namespace=~\"team-a\\\\|team-b\"}", 403, 0),
        query("every metric by name regex", "{__name__=~\".+\"}", 200, 20),
        query("metric name alternation", "{__name__=~\"kube_pod_info|up\"}", 200, 12),
        query("aggregation", "sum by (namespace) (kube_pod_info)", 200, 2),
        query("aggregation parameter naming a foreign namespace", "topk(scalar(count(kube_pod_info{namespace=\"team-b\"})), up)", 403, 0),
        query("aggregation parameter is scoped", "topk(scalar(count(kube_pod_info)), up)", 200, 6),
        query("quantile parameter", "quantile(scalar(count(up{namespace=\"kube-system\"})), up)", 403, 0),
        query("join with an info metric", "up * on(namespace, pod) group_left(node) kube_pod_info", 200, 6),
        query("join on pod alone (same pod names in other namespaces)", "kube_pod_info * on(pod) group_left() max by (pod) (kube_pod_container_status_restarts_total)", 200, 6),
        query("absent over a foreign namespace", "absent(up{namespace=\"team-b\"})", 403, 0),
        query("absent over a missing metric", "absent(nonexistent_metric)", 200, 1),
        query("label_replace over a foreign namespace", "label_replace(up{namespace=\"team-b\"}, \"namespace\", \"team-a\", \"\", \"\")", 403, 0),
        query("label_replace copying the namespace", "label_replace(up, \"ns2\", \"$1\", \"namespace\", \"(.*)\")", 200, 6),
        query("or with a foreign selector", "up or on() kube_pod_info{namespace=\"kube-system\"}", 403, 0),
        query("unless with a foreign selector", "up unless kube_pod_info{namespace=\"team-b\"}", 403, 0),
        query("and with a vector literal", "up and on() vector(1)", 200, 6),
        query("subquery over a foreign namespace", "max_over_time(up{namespace=\"team-b\"}[10m:1m])", 403, 0),
        query("subquery", "max_over_time(up[10m:1m])", 200, 6),
        query("@ 0", "up @ 0", 200, 0),
        query("@ end() and offset", "up @ end() offset 5m", 200, 6),
        query("offset over a foreign namespace", "up{namespace=\"team-b\"} offset 5m", 403, 0),
        query("scalar of a foreign series", "scalar(up{namespace=\"kube-system\"})", 403, 0),
        query("deep nesting", &deep, 400, 0),
        query("flat operator chain", &chain, 400, 0),
        query("oversized query", &huge, 400, 0),
        query("or inside braces", "up{namespace=\"team-b\" or namespace=\"team-a\"}", 400, 0),
        query("cluster-only metric", "node_cpu_seconds_total", 403, 0),
        query("cluster-only metric by __name__", "{__name__=\"node_cpu_seconds_total\"}", 403, 0),
        query("cluster-only metrics by regex are empty", "{__name__=~\"node_.*\"}", 200, 0),
        query("public metric", "kube_node_labels", 200, 3),
        query("function outside the allow-list", "sort_by_label(up, \"pod\")", 400, 0),
        query("count_values", "count_values(\"value\", up)", 200, 1),
        query("metric whose namespace label is the exporter's", "nginx_ingress_controller_requests", 200, 0),
        query("string concatenation cannot smuggle selectors", "up{job=\"x\\\"} or secret{namespace=\\\"team-b\\\"} or up{job=\\\"\"}", 200, 0),
        Case {
            name: "range query over a foreign namespace",
            path: "/prometheus/api/v1/query_range",
            params: vec![("query", "rate(http_requests_total{namespace=\"team-b\"}[5m])".into()), ("start", start.clone()), ("end", t.clone()), ("step", "60".into())],
            status: 403,
            min_results: 0,
            values_are_namespaces: false,
        },
        Case {
            name: "range query",
            path: "/prometheus/api/v1/query_range",
            params: vec![("query", "sum by (namespace) (rate(http_requests_total[5m]))".into()), ("start", start.clone()), ("end", t.clone()), ("step", "60".into())],
            status: 200,
            min_results: 2,
            values_are_namespaces: false,
        },
        Case {
            name: "exemplars over a foreign namespace",
            path: "/prometheus/api/v1/query_exemplars",
            params: vec![("query", "up{namespace=\"team-b\"}".into()), ("start", start.clone()), ("end", t.clone())],
            status: 403,
            min_results: 0,
            values_are_namespaces: false,
        },
        matcher_api("series of a foreign namespace", "/prometheus/api/v1/series", &["{namespace=\"team-b\"}"], 403, 0),
        matcher_api("series of every metric", "/prometheus/api/v1/series", &["{__name__=~\".+\"}"], 200, 20),
        matcher_api("series without match[]", "/prometheus/api/v1/series", &[], 200, 20),
        matcher_api("series with one foreign match[] among several", "/prometheus/api/v1/series", &["up", "kube_pod_info{namespace=\"kube-system\"}"], 403, 0),
        matcher_api("series with an expression as match[]", "/prometheus/api/v1/series", &["rate(up[5m])"], 400, 0),
        matcher_api("labels of a foreign namespace", "/prometheus/api/v1/labels", &["up{namespace=\"kube-system\"}"], 403, 0),
        matcher_api("labels", "/prometheus/api/v1/labels", &[], 200, 3),
        matcher_api("namespace values", "/prometheus/api/v1/label/namespace/values", &[], 200, 2),
        matcher_api("namespace values with a match-all selector", "/prometheus/api/v1/label/namespace/values", &["{__name__=~\".+\"}"], 200, 2),
        matcher_api("pod values of a foreign namespace", "/prometheus/api/v1/label/pod/values", &["{namespace=~\"team-b\"}"], 403, 0),
        matcher_api("exported namespace values", "/prometheus/api/v1/label/exported_namespace/values", &[], 200, 0),
    ]
}

#[tokio::test]
async fn adversarial_requests_never_leave_the_workspace() {
    let p = periscope().await;
    let scope = scope_of(ALICE);
    let cases = cases();
    assert!(cases.len() >= 50, "the suite shrank to {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let params: Vec<(&str, &str)> = case.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = if case.path.contains("/label/") {
            p.get(Some(ALICE), case.path, &params).await
        } else {
            p.post(Some(ALICE), case.path, &params).await
        };
        if answer.status != case.status {
            failures.push(format!(
                "{}: status {} (expected {}): {:.300}",
                case.name, answer.status, case.status, answer.raw
            ));
            continue;
        }
        if answer.status == 200 {
            let seen = namespaces_in(&answer.body, case.values_are_namespaces);
            if !seen.is_subset(&scope) {
                failures.push(format!(
                    "{}: LEAK of {:?}",
                    case.name,
                    seen.difference(&scope).collect::<Vec<_>>()
                ));
            }
            let n = result_count(&answer.body);
            if n < case.min_results {
                failures.push(format!(
                    "{}: {n} results, expected at least {}",
                    case.name, case.min_results
                ));
            }
        } else {
            assert_eq!(
                answer.body["status"], "error",
                "{}: {}",
                case.name, answer.raw
            );
            assert!(
                answer.body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{}: {}",
                case.name,
                answer.raw
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn namespace_values_are_exactly_the_scope() {
    let p = periscope().await;
    for tenant in ["alice", "bob", "carol", "nina"] {
        let a = p
            .get(
                Some(tenant),
                "/prometheus/api/v1/label/namespace/values",
                &[],
            )
            .await;
        assert_eq!(a.status, 200, "{tenant}: {}", a.raw);
        assert_eq!(namespaces_in(&a.body, true), scope_of(tenant), "{tenant}");
    }
}

#[tokio::test]
async fn parameter_pollution_is_refused() {
    let p = periscope().await;
    let url = format!("{}/prometheus/api/v1/query?query=up", p.base);
    let both = p
        .http
        .post(&url)
        .bearer_auth(token(ALICE))
        .form(&[("query", "up{namespace=\"team-b\"}")])
        .send()
        .await
        .unwrap();
    let a = answer(both).await;
    assert_eq!(a.status, 400, "{}", a.raw);
    assert!(a.raw.contains("more than once"), "{}", a.raw);

    let twice = format!(
        "{}/prometheus/api/v1/query?query=up&query=kube_pod_info",
        p.base
    );
    let a = answer(
        p.http
            .get(&twice)
            .bearer_auth(token(ALICE))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.raw);

    let series = format!("{}/prometheus/api/v1/series?match[]=up", p.base);
    let a = answer(
        p.http
            .post(&series)
            .bearer_auth(token(ALICE))
            .form(&[("match[]", "{namespace=\"team-b\"}")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.raw);
    assert!(
        a.raw.contains("both in the URL and in the body"),
        "{}",
        a.raw
    );
}

#[tokio::test]
async fn client_supplied_tenant_hints_are_ignored() {
    let p = periscope().await;
    let url = format!(
        "{}/prometheus/api/v1/query?namespace=team-b&tenant=team-b",
        p.base
    );
    let response = p
        .http
        .post(&url)
        .bearer_auth(token(ALICE))
        .header("X-Scope-OrgID", "team-b")
        .header("X-Tenant", "team-b")
        .form(&[("query", "up"), ("time", &eval_time())])
        .send()
        .await
        .unwrap();
    let a = answer(response).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(namespaces_in(&a.body, false), scope_of(ALICE));
}

#[tokio::test]
async fn other_tenants_are_isolated_from_each_other() {
    let p = periscope().await;
    let a = p.query("bob", "up{namespace=\"team-a\"}").await;
    assert_eq!(a.status, 403, "{}", a.raw);
    let a = p.query("nina", "sum by (namespace) (up)").await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(namespaces_in(&a.body, false), scope_of("nina"));
    let a = p
        .query("carol", "count by (namespace) (kube_pod_info)")
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(
        namespaces_in(&a.body, false),
        scope_of("carol"),
        "discovered workspace ws-c"
    );
}

#[tokio::test]
async fn an_empty_scope_sees_nothing() {
    let p = periscope().await;
    assert_eq!(p.query("nobody", "up").await.status, 403);
    assert_eq!(p.query("nobody", "{__name__=~\".+\"}").await.status, 403);
    // Without namespaces, only public metrics remain.
    let series = p
        .get(Some("nobody"), "/prometheus/api/v1/series", &[])
        .await;
    assert_eq!(series.status, 200, "{}", series.raw);
    let names: std::collections::BTreeSet<&str> = series.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["__name__"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        std::collections::BTreeSet::from(["kube_node_labels"])
    );
    let values = p
        .get(
            Some("nobody"),
            "/prometheus/api/v1/label/namespace/values",
            &[],
        )
        .await;
    assert_eq!(values.status, 200, "{}", values.raw);
    assert_eq!(values.body["data"], serde_json::json!([]));
    let public = p.query("nobody", "kube_node_labels").await;
    assert_eq!(
        public.status, 200,
        "public metrics stay visible: {}",
        public.raw
    );
}

#[tokio::test]
async fn credentials_are_required() {
    let p = periscope().await;
    let time = eval_time();
    let a = p
        .post(
            None,
            "/prometheus/api/v1/query",
            &[("query", "up"), ("time", &time)],
        )
        .await;
    assert_eq!(a.status, 401, "{}", a.raw);
    assert_eq!(a.body["status"], "error");
    let bad = p
        .http
        .post(format!("{}/prometheus/api/v1/query", p.base))
        .bearer_auth("not-a-token")
        .form(&[("query", "up")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let basic = p
        .http
        .post(format!("{}/prometheus/api/v1/query", p.base))
        .basic_auth("whoever", Some(token(ALICE)))
        .form(&[("query", "up"), ("time", &time)])
        .send()
        .await
        .unwrap();
    let a = answer(basic).await;
    assert_eq!(
        a.status, 200,
        "basic auth with the token as password: {}",
        a.raw
    );
    assert_eq!(namespaces_in(&a.body, false), scope_of(ALICE));
}

#[tokio::test]
async fn a_workspace_of_five_thousand_namespaces_works() {
    let mut namespaces: Vec<String> = (0..5000).map(|i| format!("bulk-{i:04}")).collect();
    namespaces.push("team-a-dev".into());
    let list = namespaces
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let extra = format!(
        "\n[[workspaces]]\nname = \"ws-bulk\"\nnamespaces = [{list}]\n\n[[principals]]\nname = \"bulk\"\ntoken_sha256 = \"{}\"\nrole = \"workspace-viewer\"\nworkspaces = [\"ws-bulk\"]\n",
        periscope_tenancy::auth::token_sha256("bulk-token")
    );
    let p = periscope_with(&extra).await;
    let time = eval_time();
    // Twice: the second answer comes through the enforcement decision cache.
    for _ in 0..2 {
        let r = p
            .http
            .post(format!("{}/prometheus/api/v1/query", p.base))
            .bearer_auth("bulk-token")
            .form(&[
                (
                    "query",
                    "sum by (namespace) (up) or sum by (namespace) (kube_pod_info)",
                ),
                ("time", &time),
            ])
            .send()
            .await
            .unwrap();
        let a = answer(r).await;
        assert_eq!(a.status, 200, "{:.300}", a.raw);
        assert_eq!(
            namespaces_in(&a.body, false),
            std::collections::BTreeSet::from(["team-a-dev".to_string()])
        );
    }
    let r = p
        .http
        .get(format!(
            "{}/prometheus/api/v1/label/namespace/values",
            p.base
        ))
        .bearer_auth("bulk-token")
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 200, "{:.300}", a.raw);
    assert_eq!(a.body["data"], serde_json::json!(["team-a-dev"]));

    // Split requests still honour the caller's own selectors and refusals.
    let values = |m: &'static str| {
        let request = p
            .http
            .get(format!("{}/prometheus/api/v1/label/pod/values", p.base))
            .bearer_auth("bulk-token")
            .query(&[("match[]", m)]);
        async move { answer(request.send().await.unwrap()).await }
    };
    let pods = values("up{namespace=\"team-a-dev\"}").await;
    assert_eq!(pods.status, 200, "{:.300}", pods.raw);
    assert_eq!(
        pods.body["data"].as_array().unwrap().len(),
        3,
        "{}",
        pods.raw
    );
    assert_eq!(values("up{namespace=\"team-b\"}").await.status, 403);
    let metadata = p
        .http
        .get(format!("{}/prometheus/api/v1/metadata", p.base))
        .bearer_auth("bulk-token")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
}
