//! The `periscope` binary: `check-config`, `serve` (environment overrides,
//! graceful shutdown on SIGTERM, no secrets in logs) and `demo`.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_periscope");

fn check_config(path: impl AsRef<std::ffi::OsStr>) -> std::process::Output {
    Command::new(BIN)
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap()
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("periscope.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &periscope_sandbox::demo_config(
            "http://127.0.0.1:9090",
            "127.0.0.1:9480",
            "127.0.0.1:9481",
        ),
    );
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("ok (2 cluster(s), 3 workspace(s), 6 principal(s))"));
}

#[test]
fn the_example_configuration_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/periscope.example.toml");
    let out = check_config(example);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_explains_every_problem_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = periscope_sandbox::demo_config("ftp://nowhere", "127.0.0.1:9480", "not-an-address")
        .replace(
            "workspaces = [\"ws-b\"]",
            "workspaces = [\"ws-b\"]\nnamespaces = [\"team-z\"]",
        );
    let path = write_config(&dir, &text);
    let out = check_config(&path);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&path.display().to_string()), "{err}");
    for needle in [
        "server.grpc_listen",
        "clusters[0].prometheus.url",
        "clusters[1].prometheus.url",
        "principals[2].namespaces",
    ] {
        assert!(err.contains(needle), "missing {needle}: {err}");
    }
    let syntax = write_config(&dir, "[server\nhttp_listen = 1");
    let out = check_config(&syntax);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_applies_env_overrides_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus_url = prometheus().url().to_string();
    // The file names fixed ports; the environment moves both to free ones.
    let path = write_config(
        &dir,
        &periscope_sandbox::demo_config(&prometheus_url, "127.0.0.1:1", "127.0.0.1:2"),
    );
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .env("PERISCOPE_SERVER__HTTP_LISTEN", "127.0.0.1:0")
            .env("PERISCOPE_SERVER__GRPC_LISTEN", "127.0.0.1:0")
            .env("PERISCOPE_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(child.0.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = Vec::new();
    let http = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("periscope logs its listen address");
        log.push(line.clone());
        if line.contains("periscope listening") {
            break line
                .split("http=")
                .nth(1)
                .expect("http= in the line")
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
        }
    };
    let healthz = blocking::get(&format!("http://{http}/healthz"));
    assert_eq!(healthz.0, 200, "{}", healthz.1);
    let time = eval_time();
    let (status, _) = blocking::post(
        &format!("http://{http}/prometheus/api/v1/query"),
        token("alice"),
        &[("query", "up"), ("time", &time)],
    );
    assert_eq!(status, 200);

    let status = terminate(&mut child.0);
    assert!(status.success(), "exit status {status}");
    log.extend(rx.try_iter());
    let log = log.join("\n");
    assert!(log.contains("shutting down"), "{log}");
    for t in periscope_sandbox::DEMO_TENANTS {
        assert!(
            !log.contains(t.token),
            "token of {} in the logs:\n{log}",
            t.name
        );
    }
}

/// The lines a child writes to `output`, read on a thread of their own (so a
/// full pipe never blocks the child) and received with a timeout.
fn lines_of(output: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Sends SIGTERM and waits (bounded) for the exit status.
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    assert!(Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "periscope did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_serves_the_simulated_cluster_per_tenant_and_stops_everything() {
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args([
                "demo",
                "--http-listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(child.0.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.contains("Press Ctrl-C")) {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the demo did not come up:\n{}", printed.join("\n")));
        printed.push(line);
    }
    let url_after = |label: &str| {
        printed
            .iter()
            .find_map(|l| l.split(label).nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {label} in the output"))
            .to_string()
    };
    let api = url_after("Drill-down API:");
    let prometheus = url_after("Prometheus (direct):");
    assert!(printed.iter().any(|l| l.contains("alice-demo-token")));

    let (status, body) = blocking::get_as(
        &format!("{api}namespaces/team-a/pods?metrics=pod_cpu_usage&sort_metric=pod_cpu_usage"),
        token("alice"),
    );
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(page["total_items"].as_u64().unwrap() > 0, "{body}");
    let (status, body) = blocking::get_as(&format!("{api}namespaces/team-b/pods"), token("alice"));
    assert_eq!(status, 403, "{body}");
    let (status, body) = blocking::get_as(
        &format!("{api}nodes?metrics=node_pod_count"),
        token("admin"),
    );
    assert_eq!(status, 200, "{body}");
    // The built-in rules are evaluated: the admin lists them.
    let base = api.trim_end_matches("/api/v1/");
    let (status, body) = blocking::get_as(
        &format!("{base}/prometheus/api/v1/rules?type=alert"),
        token("admin"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("KubePodCrashLooping"), "{body}");
    // The simulated pods' logs arrive in the embedded store; alice searches
    // hers and sees no one else's.
    let logs_deadline = Instant::now() + Duration::from_secs(60);
    let logs = loop {
        let (status, body) = blocking::get_as(&format!("{api}logs?size=200"), token("alice"));
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        if page["query"]["total"].as_u64().unwrap_or(0) > 0 {
            break page;
        }
        assert!(Instant::now() < logs_deadline, "no logs arrived: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let records = logs["query"]["records"].as_array().unwrap();
    assert!(records
        .iter()
        .all(|r| ["team-a", "team-a-dev"].contains(&r["namespace"].as_str().unwrap())));
    let (status, body) = blocking::get_as(&format!("{api}logs?log_query=panic"), token("admin"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("FATAL database unreachable"), "{body}");
    // The same lines through the Loki API, as Grafana's Loki datasource asks.
    let loki = url_after("Loki API:");
    let (status, body) = blocking::get_as(
        &format!("{loki}/loki/api/v1/query_range?query=%7Bnamespace%3D~%22.%2B%22%7D&limit=200"),
        token("alice"),
    );
    assert_eq!(status, 200, "{body}");
    let streams: serde_json::Value = serde_json::from_str(&body).unwrap();
    let result = streams["data"]["result"].as_array().unwrap();
    assert!(!result.is_empty(), "{body}");
    assert!(result
        .iter()
        .all(|s| ["team-a", "team-a-dev"].contains(&s["stream"]["namespace"].as_str().unwrap())));
    // The simulated requests' traces arrive too: alice's spans are only hers,
    // and her call into another workspace is one opaque node.
    let jaeger = url_after("Jaeger API:");
    let traces_deadline = Instant::now() + Duration::from_secs(60);
    let services = loop {
        let (status, body) = blocking::get_as(&format!("{jaeger}/api/services"), token("alice"));
        assert_eq!(status, 200, "{body}");
        let services: serde_json::Value = serde_json::from_str(&body).unwrap();
        let names: Vec<String> = services["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        if !names.is_empty() {
            break names;
        }
        assert!(
            Instant::now() < traces_deadline,
            "no traces arrived: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (status, body) = blocking::get_as(
        &format!("{jaeger}/api/traces?service={}&limit=20", services[0]),
        token("alice"),
    );
    assert_eq!(status, 200, "{body}");
    let traces: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut namespaces = std::collections::BTreeSet::new();
    for t in traces["data"].as_array().unwrap() {
        for p in t["processes"].as_object().unwrap().values() {
            for tag in p["tags"].as_array().unwrap() {
                if tag["key"] == "k8s.namespace.name" {
                    namespaces.insert(tag["value"].as_str().unwrap().to_string());
                }
            }
        }
    }
    assert!(!namespaces.is_empty(), "{body}");
    assert!(
        namespaces
            .iter()
            .all(|n| n == "team-a" || n == "team-a-dev"),
        "{namespaces:?}"
    );
    let (status, body) = blocking::get_as(&format!("{jaeger}/api/dependencies"), token("alice"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("(outside your scope)"), "{body}");
    // Events and audit records arrive: carol sees her crash-looping pod's
    // BackOff (one event with a count) and the exec into it, nobody else's.
    let records_deadline = Instant::now() + Duration::from_secs(60);
    // The shipper catches up on the hour in ten-minute requests: wait until
    // the BackOff event has an hour of restarts folded into its count.
    let backoff = loop {
        let (status, body) = blocking::get_as(
            &format!("{api}events?reason_filter=BackOff"),
            token("carol"),
        );
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        if let Some(first) = page["query"]["records"].as_array().and_then(|r| r.first()) {
            if first["count"].as_u64().unwrap_or(0) >= 10 {
                break first.clone();
            }
        }
        assert!(
            Instant::now() < records_deadline,
            "no BackOff event with an hour of restarts arrived: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        backoff["involvedObject"]["namespace"], "team-c",
        "{backoff}"
    );
    let (status, body) = blocking::get_as(&format!("{api}events?size=1000"), token("carol"));
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(page["query"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["involvedObject"]["namespace"] == "team-c"));
    let (status, body) = blocking::get_as(
        &format!("{api}auditing/events?objectref_subresource_filter=exec"),
        token("carol"),
    );
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(page["query"]["total"].as_u64().unwrap() >= 2, "{body}");
    let (status, body) = blocking::get_as(
        &format!("{api}auditing/events?objectref_subresource_filter=exec"),
        token("alice"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"total\":0"), "{body}");
    // The BackOff events fire kube-events' ContainerBackoff for carol, the
    // exec into her pod the audit pack's AttachOrExecPod for the admin; both
    // are notified and in the notification history.
    let alerts_of = |tenant: &str| -> Vec<(String, String)> {
        let (status, body) =
            blocking::get_as(&format!("{base}/prometheus/api/v1/alerts"), token(tenant));
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        answer["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let l = &a["labels"];
                let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
                (s("alertname"), s("namespace"))
            })
            .collect()
    };
    let alerts_deadline = Instant::now() + Duration::from_secs(60);
    let history = loop {
        let carol = alerts_of("carol");
        let admin = alerts_of("admin");
        let (status, history) = blocking::get_as(
            &format!("{base}/api/v1/alerting/notifications"),
            token("admin"),
        );
        assert_eq!(status, 200, "{history}");
        let fired = carol.contains(&("ContainerBackoff".into(), "team-c".into()))
            && admin.contains(&("AttachOrExecPod".into(), "team-c".into()));
        if fired && history.contains("ContainerBackoff") && history.contains("AttachOrExecPod") {
            assert!(carol.iter().all(|(_, ns)| ns == "team-c"), "{carol:?}");
            break history;
        }
        assert!(
            Instant::now() < alerts_deadline,
            "no event and audit alerts: carol {carol:?}, admin {admin:?}, history {history}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(history.contains("\"delivered\""), "{history}");
    let data_dir = std::env::temp_dir().join(format!("periscope-demo-{}", child.0.id()));
    assert!(data_dir.join("logs").exists());
    assert!(data_dir.join("events").exists() && data_dir.join("audit").exists());
    assert!(data_dir.join("traces").exists());

    let status = terminate(&mut child.0);
    assert!(status.success(), "exit status {status}");
    assert!(
        blocking::unavailable(&format!("{prometheus}/-/ready")),
        "the demo's Prometheus still answers after the demo stopped"
    );
    assert!(!data_dir.exists(), "the demo left {}", data_dir.display());
}

#[test]
fn demo_without_prometheus_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "demo",
            "--http-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
        ])
        .env("PATH", empty.path())
        .env_remove("PERISCOPE_PROMETHEUS_BIN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apt-get install prometheus"), "{stderr}");
    assert!(stderr.contains("PERISCOPE_PROMETHEUS_BIN"), "{stderr}");
}

/// Kills the child process if the test ends early (a failed assertion), so no
/// server outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Minimal blocking HTTP helpers on top of a private runtime (the test itself is synchronous).
mod blocking {
    pub fn get(url: &str) -> (u16, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    /// GET with a bearer token.
    pub fn get_as(url: &str, token: &str) -> (u16, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    /// Whether nothing answers at `url` (connection refused).
    pub fn unavailable(url: &str) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { reqwest::get(url).await.is_err() })
    }

    pub fn post(url: &str, token: &str, form: &[(&str, &str)]) -> (u16, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .form(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }
}
