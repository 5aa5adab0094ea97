//! What the ingest and query benches share: Periscope on a one-thread runtime
//! of its own, the process' peak memory, a small deterministic generator, and
//! batches of the simulated cluster's audit records.
#![allow(dead_code)]

pub mod log_lines;

use periscope_api::Server;
use periscope_config::Config;
use std::collections::HashMap;

/// Periscope with embedded stores in `data_dir` and one ingest token, on a
/// single-threaded runtime of its own thread; returns its base URL.
pub fn start_periscope(data_dir: &std::path::Path, token: &str) -> String {
    start_periscope_with(data_dir, token, "")
}

/// Like [`start_periscope`], with `extra` TOML appended to the configuration.
pub fn start_periscope_with(data_dir: &std::path::Path, token: &str, extra: &str) -> String {
    let hash = periscope_tenancy::auth::token_sha256(token);
    let text = format!(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\nmax_body_bytes = 1048576\n\n[[clusters]]\nname = \"default\"\nprometheus = {{ url = \"http://127.0.0.1:9\" }}\n\n[storage]\ndata_dir = {:?}\n\n[[ingest.tokens]]\nname = \"bench\"\ntoken_sha256 = \"{hash}\"\n{extra}",
        data_dir.display().to_string()
    );
    let config = Config::from_toml(&text, "bench", &HashMap::new()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(config).await.unwrap();
            tx.send(format!("http://{}", server.http_addr())).unwrap();
            server.run(std::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The process' peak resident set, MiB.
pub fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kib| kib / 1024)
}

/// SplitMix64, for data sets that are the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Where a bench keeps the data set it builds once: `target/bench-data/<name>`.
pub fn data_dir(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data").join(name)
}

/// An `EventList` of `size` of the simulated cluster's audit records (eight
/// deployments per namespace), each audit id prefixed with `mark` (replace
/// it per batch for fresh ids).
pub fn audit_batch(size: usize, mark: &str) -> String {
    use periscope_simulator::{audit_events, Cluster, ClusterSpec};
    use serde_json::{json, Value};
    let cluster = Cluster::generate(&ClusterSpec {
        deployments_per_namespace: 8,
        ..ClusterSpec::default()
    });
    let mut items: Vec<Value> = Vec::new();
    let mut t = 1_795_687_200;
    while items.len() < size {
        items.extend(audit_events(&cluster, 1_795_687_200, t, t + 60));
        t += 60;
    }
    items.truncate(size);
    for (i, item) in items.iter_mut().enumerate() {
        item["auditID"] = json!(format!(
            "{mark}-{i:04}-{}",
            item["auditID"].as_str().unwrap()
        ));
    }
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
        .to_string()
}
