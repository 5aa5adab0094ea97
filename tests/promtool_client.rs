//! The real `promtool` (Debian's, which has no auth flags) as a tenant client,
//! with the token in the URL's userinfo (sent as HTTP Basic auth).

mod common;

use common::*;
use std::process::Command;

fn promtool(args: &[String]) -> (bool, String) {
    let bin = std::env::var("PERISCOPE_PROMTOOL_BIN").unwrap_or_else(|_| "promtool".into());
    let out = Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn server_url(p: &Periscope, tenant: &str) -> String {
    let host = p.base.trim_start_matches("http://");
    format!("http://{tenant}:{}@{host}/prometheus", token(tenant))
}

/// Namespaces named in promtool's text output (`namespace="..."`).
fn namespaces(output: &str) -> std::collections::BTreeSet<String> {
    output
        .split("namespace=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn promtool_queries_as_a_tenant_see_only_its_namespaces() {
    let p = periscope().await;
    let url = server_url(&p, "alice");
    let t = prometheus().sample().eval_time();
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || promtool(&args))
            .await
            .unwrap()
    };

    let (ok, out) = run(vec![
        "query".into(),
        "instant".into(),
        url.clone(),
        "up".into(),
        format!("--time={t}"),
    ])
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.lines().filter(|l| l.contains("=>")).count(), 6, "{out}");
    assert_eq!(namespaces(&out), scope_of("alice"), "{out}");

    let (ok, out) = run(vec![
        "query".into(),
        "range".into(),
        url.clone(),
        "sum by (namespace) (rate(http_requests_total[5m]))".into(),
        format!("--start={}", t - 600),
        format!("--end={t}"),
        "--step=1m".into(),
    ])
    .await;
    assert!(ok, "{out}");
    assert_eq!(namespaces(&out), scope_of("alice"), "{out}");

    let (ok, out) = run(vec![
        "query".into(),
        "series".into(),
        url.clone(),
        "--match=kube_pod_info".into(),
    ])
    .await;
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("kube_pod_info")).count(),
        6,
        "{out}"
    );
    assert_eq!(namespaces(&out), scope_of("alice"), "{out}");

    let (ok, out) = run(vec![
        "query".into(),
        "labels".into(),
        url.clone(),
        "namespace".into(),
    ])
    .await;
    assert!(ok, "{out}");
    let values: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(values, ["team-a", "team-a-dev"], "{out}");

    let (ok, out) = run(vec![
        "query".into(),
        "instant".into(),
        url,
        "up{namespace=\"team-b\"}".into(),
    ])
    .await;
    assert!(!ok, "a foreign namespace must fail: {out}");
    assert!(out.contains("outside your scope"), "{out}");
}

#[tokio::test]
async fn promtool_with_a_wrong_token_is_refused() {
    let p = periscope().await;
    let host = p.base.trim_start_matches("http://");
    let args = vec![
        "query".to_string(),
        "instant".into(),
        format!("http://alice:wrong@{host}/prometheus"),
        "up".into(),
    ];
    let (ok, out) = tokio::task::spawn_blocking(move || promtool(&args))
        .await
        .unwrap();
    assert!(!ok, "{out}");
    assert!(
        out.contains("invalid token") || out.contains("401"),
        "{out}"
    );
}
