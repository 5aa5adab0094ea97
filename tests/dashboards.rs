//! Every Grafana dashboard in `dashboards/`: each PromQL target and template
//! variable, with the variables substituted as Grafana would, runs through
//! Periscope against the simulated cluster in a real Prometheus, parses and
//! returns data; drill-down links point at dashboards that exist.

mod common;

use common::dashboards::{dashboards, interpolate, reads_span_metrics, variables, Dashboard};
use common::{periscope_on_simulated, simulated, Periscope};
use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Who views a dashboard: node-level ones need the cluster admin; the
/// namespace, workload and pod ones work for a workspace tenant.
fn viewer(d: &Dashboard) -> &'static str {
    let vars = variables(d);
    if vars.iter().any(|v| v["name"] == "namespace") {
        "alice"
    } else {
        "admin"
    }
}

async fn instant(p: &Periscope, tenant: &str, query: &str) -> Vec<Value> {
    let time = simulated().end.to_string();
    let a = p
        .post(
            Some(tenant),
            "/prometheus/api/v1/query",
            &[("query", query), ("time", &time)],
        )
        .await;
    assert_eq!(a.status, 200, "{query}\n{}", a.raw);
    a.body["data"]["result"].as_array().unwrap().clone()
}

/// Resolves a query variable the way Grafana's Prometheus datasource does:
/// `label_values(selector, label)` through the label values API,
/// `query_result(expr)` through an instant query (then the variable's regex).
async fn variable_values(p: &Periscope, tenant: &str, var: &Value, query: &str) -> Vec<String> {
    let label_values = Regex::new(r"^label_values\((.*),\s*(\w+)\)$").unwrap();
    if let Some(c) = label_values.captures(query) {
        let end = simulated().end;
        let start = (end - 3600).to_string();
        let end = end.to_string();
        let a = p
            .get(
                Some(tenant),
                &format!("/prometheus/api/v1/label/{}/values", &c[2]),
                &[("match[]", &c[1]), ("start", &start), ("end", &end)],
            )
            .await;
        assert_eq!(a.status, 200, "{query}\n{}", a.raw);
        return a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
    }
    let inner = query
        .strip_prefix("query_result(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unsupported variable query {query}"));
    let regex = var["regex"].as_str().unwrap().trim_matches('/');
    let regex = Regex::new(regex).unwrap();
    let mut values = BTreeSet::new();
    for series in instant(p, tenant, inner).await {
        let mut text = String::from("{");
        for (k, v) in series["metric"].as_object().unwrap() {
            text.push_str(&format!("{k}=\"{}\", ", v.as_str().unwrap()));
        }
        if let Some(c) = regex.captures(&text) {
            values.insert(c[1].to_string());
        }
    }
    values.into_iter().collect()
}

#[test]
fn the_dashboards_are_there_with_their_variables() {
    let all = dashboards();
    let uids: BTreeSet<&str> = all
        .iter()
        .map(|d| d.json["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        uids,
        BTreeSet::from([
            "periscope-cluster",
            "periscope-namespace",
            "periscope-node",
            "periscope-pod",
            "periscope-service",
            "periscope-services",
            "periscope-workload"
        ])
    );
    let mut names = BTreeSet::new();
    let dashboard_link = Regex::new(r"/d/([\w-]+)").unwrap();
    for d in &all {
        let vars = variables(d);
        assert_eq!(vars[0]["name"], "cluster", "{}", d.file);
        assert_eq!(vars[0]["type"], "datasource", "{}", d.file);
        names.extend(vars.iter().map(|v| v["name"].as_str().unwrap().to_string()));
        // Drill-down links go to dashboards of this set.
        let text = d.json.to_string();
        for c in dashboard_link.captures_iter(&text) {
            assert!(
                uids.contains(&c[1]),
                "{}: link to unknown dashboard {}",
                d.file,
                &c[1]
            );
        }
    }
    for v in ["cluster", "node", "namespace", "workload", "pod", "service"] {
        assert!(names.contains(v), "no dashboard has a {v} variable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_runs_through_periscope_and_returns_data() {
    let p = periscope_on_simulated().await;
    let mut targets_run = 0;
    for d in dashboards().into_iter().filter(|d| !reads_span_metrics(d)) {
        let tenant = viewer(&d);
        let mut vars = BTreeMap::new();
        for var in variables(&d).into_iter().filter(|v| v["type"] == "query") {
            let name = var["name"].as_str().unwrap();
            let query = interpolate(var["query"]["query"].as_str().unwrap(), &vars);
            let values = variable_values(&p, tenant, var, &query).await;
            assert!(
                !values.is_empty(),
                "{}: variable {name} has no values",
                d.file
            );
            // A tenant's namespace variable lists only its namespaces.
            if tenant == "alice" && name == "namespace" {
                assert_eq!(values, ["team-a", "team-a-dev"], "{}", d.file);
            }
            let pick = values
                .iter()
                .find(|v| v.as_str() == "team-a")
                .unwrap_or(&values[0])
                .clone();
            vars.insert(name.to_string(), pick);
        }
        for panel in d.json["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = interpolate(target["expr"].as_str().unwrap(), &vars);
                assert!(
                    !expr.contains("$node")
                        && !expr.contains("$namespace")
                        && !expr.contains("$pod")
                        && !expr.contains("$workload"),
                    "{}: uninterpolated {expr}",
                    d.file
                );
                promql_parser::parser::parse(&expr)
                    .unwrap_or_else(|e| panic!("{}: {expr} does not parse: {e}", d.file));
                let result = instant(&p, tenant, &expr).await;
                assert!(
                    !result.is_empty(),
                    "{} / {}: no data for {expr} (variables {vars:?})",
                    d.file,
                    panel["title"]
                );
                targets_run += 1;
            }
        }
    }
    assert!(targets_run >= 30, "{targets_run}");
}
