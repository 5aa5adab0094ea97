//! Shared harness for the end-to-end tests: one real Prometheus per test binary
//! (started on a free loopback port, preloaded with the sandbox's sample
//! cluster), and a fresh Periscope per test, in process, on free ports.
#![allow(dead_code)]

pub mod dashboards;
pub mod fuzz;
pub mod microservices;

use periscope_api::Server;
use periscope_config::Config;
use periscope_sandbox::{demo_config, DemoTenant, PrometheusProcess};
use periscope_simulator::{openmetrics_history, Cluster, ClusterSpec};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::OnceLock;

static PROMETHEUS: OnceLock<PrometheusProcess> = OnceLock::new();

/// The binary-wide Prometheus. Fails the test (never skips) if it cannot start.
pub fn prometheus() -> &'static PrometheusProcess {
    PROMETHEUS.get_or_init(|| {
        PrometheusProcess::start().unwrap_or_else(|e| panic!("cannot start Prometheus: {e}"))
    })
}

/// Evaluation time at which every sample series has a value.
pub fn eval_time() -> String {
    prometheus().sample().eval_time().to_string()
}

/// A running Periscope, stopped when dropped.
pub struct Periscope {
    pub base: String,
    pub grpc: SocketAddr,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Periscope with the demo configuration in front of the shared Prometheus.
pub async fn periscope() -> Periscope {
    periscope_with("").await
}

/// Periscope with the demo configuration plus `extra` TOML appended.
pub async fn periscope_with(extra: &str) -> Periscope {
    let prometheus_url = tokio::task::spawn_blocking(|| prometheus().url().to_string())
        .await
        .unwrap();
    periscope_at(&prometheus_url, extra).await
}

/// Periscope with the demo configuration in front of the Prometheus at
/// `prometheus_url`, plus `extra` TOML appended.
pub async fn periscope_at(prometheus_url: &str, extra: &str) -> Periscope {
    periscope_from(&(demo_config(prometheus_url, "127.0.0.1:0", "127.0.0.1:0") + extra)).await
}

/// Periscope with the configuration `text`.
pub async fn periscope_from(text: &str) -> Periscope {
    let config = Config::from_toml(text, "test configuration", &HashMap::new())
        .expect("valid test configuration");
    let server = Server::bind(config).await.expect("periscope binds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let base = format!("http://{}", server.http_addr());
    let grpc = server.grpc_addr();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Periscope {
        base,
        grpc,
        http: reqwest::Client::new(),
        _stop: stop,
    }
}

/// A real Prometheus holding one hour of the simulated cluster's history
/// (backfilled, so values at [`Simulated::end`] are exactly known).
pub struct Simulated {
    pub process: PrometheusProcess,
    pub cluster: Cluster,
    /// Counters' origin and the first sample, Unix seconds.
    pub origin: i64,
    /// The last sample: evaluate here.
    pub end: i64,
}

/// Seconds between samples of the simulated history.
pub const SIMULATED_STEP: i64 = 15;

static SIMULATED: OnceLock<Simulated> = OnceLock::new();

/// The binary-wide simulated-cluster Prometheus (started on first use).
pub fn simulated() -> &'static Simulated {
    SIMULATED.get_or_init(|| {
        let cluster = Cluster::generate(&ClusterSpec::default());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let end = now / 60 * 60 - 60;
        let origin = end - 3600;
        let history = openmetrics_history(
            &cluster,
            "simulator:9500",
            origin,
            origin,
            end,
            SIMULATED_STEP,
        );
        let process = PrometheusProcess::start_with(&history, "")
            .unwrap_or_else(|e| panic!("cannot start Prometheus: {e}"));
        Simulated {
            process,
            cluster,
            origin,
            end,
        }
    })
}

/// Periscope (demo configuration) in front of the simulated cluster.
pub async fn periscope_on_simulated() -> Periscope {
    let url = tokio::task::spawn_blocking(|| simulated().process.url().to_string())
        .await
        .unwrap();
    periscope_at(&url, "").await
}

/// Bearer token of a demo tenant.
pub fn token(name: &str) -> &'static str {
    DemoTenant::named(name).token
}

/// The namespaces a demo tenant may see.
pub fn scope_of(name: &str) -> BTreeSet<String> {
    let names: &[&str] = match name {
        "alice" => &["team-a", "team-a-dev"],
        "bob" | "nina" => &["team-b"],
        "carol" => &["team-c"],
        "nobody" => &[],
        other => panic!("no fixed scope for {other}"),
    };
    names.iter().map(|s| s.to_string()).collect()
}

/// A response's status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub raw: String,
}

impl Periscope {
    /// POSTs a form to a Prometheus API path (e.g. `/prometheus/api/v1/query`).
    pub async fn post(&self, tenant: Option<&str>, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(t) = tenant {
            request = request.bearer_auth(token(t));
        }
        answer(request.send().await.expect("request sent")).await
    }

    /// GETs a Prometheus API path with query parameters.
    pub async fn get(&self, tenant: Option<&str>, path: &str, query: &[(&str, &str)]) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base)).query(query);
        if let Some(t) = tenant {
            request = request.bearer_auth(token(t));
        }
        answer(request.send().await.expect("request sent")).await
    }

    /// An instant query at the sample's evaluation time.
    pub async fn query(&self, tenant: &str, query: &str) -> Answer {
        let time = eval_time();
        self.post(
            Some(tenant),
            "/prometheus/api/v1/query",
            &[("query", query), ("time", &time)],
        )
        .await
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let raw = response.text().await.expect("body read");
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer { status, body, raw }
}

/// Every value of a namespace-carrying label anywhere in `data`, plus the items
/// of a label-values list when `values_are_namespaces`.
pub fn namespaces_in(body: &Value, values_are_namespaces: bool) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if matches!(k.as_str(), "namespace" | "exported_namespace" | "ns2") {
                        if let Value::String(s) = v {
                            out.insert(s.clone());
                        }
                    }
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&body["data"], &mut out);
    if values_are_namespaces {
        if let Value::Array(items) = &body["data"] {
            out.extend(items.iter().filter_map(|i| i.as_str().map(str::to_string)));
        }
    }
    out
}

/// Number of results (series, label values, ...) in a successful answer.
pub fn result_count(body: &Value) -> usize {
    match &body["data"] {
        Value::Array(items) => items.len(),
        Value::Object(map) => match map.get("result") {
            Some(Value::Array(items)) => items.len(),
            Some(_) => 1,
            None => map.len(),
        },
        _ => 0,
    }
}

/// A webhook receiver on a free port answering with the current `status`
/// (200 unless changed), recording the bodies it accepted.
pub struct Hook {
    pub url: String,
    pub accepted: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    pub status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

/// Starts a [`Hook`].
pub async fn hook() -> Hook {
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::{Arc, Mutex};
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicU16::new(200));
    let (store, answer) = (Arc::clone(&accepted), Arc::clone(&status));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<Value>| {
            let (store, answer) = (Arc::clone(&store), Arc::clone(&answer));
            async move {
                let code = axum::http::StatusCode::from_u16(answer.load(Ordering::SeqCst))
                    .expect("a valid status");
                if code.is_success() {
                    store.lock().unwrap().push(body.0);
                }
                code
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Hook {
        url,
        accepted,
        status,
    }
}

impl Hook {
    /// The first accepted message of the group of `alertname`.
    pub fn message_for(&self, alertname: &str) -> Option<Value> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .find(|m| m["groupLabels"]["alertname"] == alertname)
            .cloned()
    }
}

/// Polls `check` every 100 ms until it gives a value (at most `within`);
/// fails the test otherwise.
pub async fn eventually<T>(
    within: std::time::Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Alertmanager routing (its configuration format, which Periscope's
/// notifications also read): everything to the webhook at `url`, grouped by
/// alert name, with short timers.
pub fn webhook_routing(url: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}\n"
    )
}

/// A real Alertmanager with `config`. Fails the test if it cannot start.
pub async fn alertmanager(config: String) -> periscope_sandbox::AlertmanagerProcess {
    tokio::task::spawn_blocking(move || periscope_sandbox::AlertmanagerProcess::start(&config))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start Alertmanager: {e}"))
}

/// Ingest token of the log tests' shipper (cluster `default`) and of the
/// `east` cluster's shipper.
pub const SHIPPER_TOKEN: &str = "shipper-test-token";
pub const EAST_SHIPPER_TOKEN: &str = "east-shipper-test-token";

/// Configuration for embedded log stores in `data_dir` and the two shippers.
pub fn logs_config(data_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let hash = |t: &str| hex::encode(sha2::Sha256::digest(t.as_bytes()));
    format!(
        "\n[storage]\ndata_dir = {:?}\n\n[[ingest.tokens]]\nname = \"shipper\"\ntoken_sha256 = \"{}\"\n\n[[ingest.tokens]]\nname = \"east-shipper\"\ntoken_sha256 = \"{}\"\ncluster = \"east\"\n",
        data_dir.display().to_string(),
        hash(SHIPPER_TOKEN),
        hash(EAST_SHIPPER_TOKEN)
    )
}

/// A `_bulk` body as Fluent Bit's `es` output sends it, one pair per line
/// `(unix seconds, namespace, pod, container, log)`.
pub fn fluent_bit_bulk(lines: &[(i64, &str, &str, &str, &str)]) -> String {
    let mut body = String::new();
    for (t, namespace, pod, container, log) in lines {
        let time = periscope_logs::format_time(t * 1_000_000_000);
        body.push_str(
            &serde_json::json!({"index": {"_index": "ks-logstash-log", "_type": "_doc"}})
                .to_string(),
        );
        body.push('\n');
        body.push_str(
            &serde_json::json!({
                "@timestamp": time,
                "log": format!("{log}\n"),
                "stream": "stdout",
                "kubernetes": {
                    "namespace_name": namespace,
                    "pod_name": pod,
                    "container_name": container,
                    "docker_id": format!("{pod}-{container}"),
                    "container_image": "example/app:1"
                }
            })
            .to_string(),
        );
        body.push('\n');
    }
    body
}

/// A `periscope serve` child process and its HTTP address.
pub struct ServeChild {
    pub child: std::process::Child,
    pub http: String,
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `periscope serve --config <path>` on free ports and waits until it
/// says where it listens.
pub fn serve_child(config: &std::path::Path) -> ServeChild {
    serve_child_with(config, &[])
}

/// Like [`serve_child`], with more arguments (e.g. `--target audit`).
pub fn serve_child_with(config: &std::path::Path, args: &[&str]) -> ServeChild {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_periscope"))
        .args(["serve", "--config"])
        .arg(config)
        .args(args)
        .env("PERISCOPE_SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .env("PERISCOPE_SERVER__GRPC_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("periscope starts");
    let stderr = child.stderr.take().unwrap();
    // Killed and reaped on drop, also when it never becomes ready.
    let mut server = ServeChild {
        child,
        http: String::new(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("periscope did not start:\n{}", seen.join("\n")));
        if let Some(rest) = line.split("http=").nth(1) {
            server.http = rest.split_whitespace().next().unwrap().to_string();
            return server;
        }
        seen.push(line);
    }
}

/// The Python of the test clients' virtual environment.
pub fn python() -> std::path::PathBuf {
    let venv = std::env::var_os("PERISCOPE_VENV").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/periscope-venv")
        },
        std::path::PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-clients (the OpenTelemetry SDK is required)",
        python.display()
    );
    python
}

/// Runs a test client script with `args`, `stdin` as its input; its JSON output.
pub fn client(script: &str, args: &[&str], stdin: &str) -> Value {
    use std::io::Write;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/").to_string() + script;
    let mut child = std::process::Command::new(python())
        .arg(path)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("client prints JSON")
}

/// A gRPC request carrying `tenant`'s token.
pub fn authorized<T>(message: T, tenant: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(tenant)).parse().unwrap(),
    );
    request
}
