//! Starting a real Prometheus on a free loopback port.

use crate::SampleCluster;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const READY_LINE: &str = "Server is ready to receive web requests.";
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{binary} not found (looked at ${env_var} and PATH). Install it, e.g. `sudo apt-get install {package}` on Debian/Ubuntu, or set {env_var} to the binary")]
    BinaryNotFound {
        binary: &'static str,
        env_var: &'static str,
        package: &'static str,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} failed: {output}")]
    CommandFailed { what: String, output: String },
    #[error("the process did not become ready within {0:?}; its log ends with:\n{1}")]
    NotReady(Duration, String),
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// Finds a binary from an environment variable or `PATH`.
pub fn find_binary(binary: &'static str, env_var: &'static str) -> Result<PathBuf, SandboxError> {
    if let Some(p) = std::env::var_os(env_var) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(binary))
                .find(|p| p.is_file())
        })
        .ok_or(SandboxError::BinaryNotFound {
            binary,
            env_var,
            package: if binary.contains("alertmanager") {
                "prometheus-alertmanager"
            } else {
                "prometheus"
            },
        })
}

/// A running Prometheus. It is stopped when this value is dropped, and also
/// when the process that started it exits for any reason (a small shell
/// watchdog kills it once our end of its stdin pipe closes).
pub struct PrometheusProcess {
    url: String,
    sample: Option<SampleCluster>,
    _process: Watched,
    _dir: tempfile::TempDir,
}

/// A child process under a small shell watchdog that kills it when our end
/// of its stdin pipe closes (on drop, or when this process dies), with its
/// stderr drained line by line into a channel.
pub(crate) struct Watched {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watched {
    /// Starts `binary` with `args` under the watchdog and waits until a line
    /// of its log contains `ready_line`.
    pub(crate) fn spawn(
        binary: &Path,
        args: &[String],
        ready_line: &str,
    ) -> Result<Self, SandboxError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$@" & child=$!; cat >/dev/null; kill $child 2>/dev/null; wait $child"#)
            .arg("periscope-watchdog")
            .arg(binary)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io(format!("starting {}", binary.display())))?;
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, log) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keeps draining the log for the whole life of the process, so a
            // full pipe never blocks it.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Dropped (and so stopped) if it does not become ready.
        let process = Self { child, stdin };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut tail: Vec<String> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(left) {
                Ok(line) if line.contains(ready_line) => return Ok(process),
                Ok(line) => {
                    tail.push(line);
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                }
                Err(_) => return Err(SandboxError::NotReady(START_TIMEOUT, tail.join("\n"))),
            }
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // Closing stdin makes the watchdog stop the process and wait for it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl PrometheusProcess {
    /// Backfills one hour of [`SampleCluster`] data ending before now, then
    /// starts Prometheus on a free loopback port and waits until it is ready.
    /// Prometheus also scrapes itself every second, relabelling
    /// `go_goroutines` into namespace `team-a` (so tenants have metadata to see).
    pub fn start() -> Result<Self, SandboxError> {
        Self::start_with_scrape_jobs("")
    }

    /// Like [`PrometheusProcess::start`], with `jobs` (YAML list items, each
    /// starting `  - job_name: ...`) added to its `scrape_configs`.
    pub fn start_with_scrape_jobs(jobs: &str) -> Result<Self, SandboxError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let sample = SampleCluster::ending_before(now);
        let mut process = Self::start_with(&sample.openmetrics(), jobs)?;
        process.sample = Some(sample);
        Ok(process)
    }

    /// Backfills `history` (OpenMetrics text, e.g. from the simulator), then
    /// starts Prometheus with `jobs` added to its `scrape_configs` (it always
    /// scrapes itself) and waits until it is ready.
    pub fn start_with(history: &str, jobs: &str) -> Result<Self, SandboxError> {
        let prometheus = find_binary("prometheus", "PERISCOPE_PROMETHEUS_BIN")?;
        let promtool = find_binary("promtool", "PERISCOPE_PROMTOOL_BIN")?;
        let dir = tempfile::Builder::new()
            .prefix("periscope-prometheus-")
            .tempdir()
            .map_err(io("creating a temporary directory"))?;
        let data_dir = dir.path().join("data");
        backfill(&promtool, history, dir.path(), &data_dir)?;

        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, scrape_config(&address) + jobs)
            .map_err(io("writing prometheus.yml"))?;
        let process = Watched::spawn(
            &prometheus,
            &[
                format!("--config.file={}", config_file.display()),
                format!("--storage.tsdb.path={}", data_dir.display()),
                "--storage.tsdb.retention.time=30d".into(),
                format!("--web.listen-address={address}"),
                "--web.enable-remote-write-receiver".into(),
                "--log.level=info".into(),
            ],
            READY_LINE,
        )?;
        Ok(Self {
            url: format!("http://{address}"),
            sample: None,
            _process: process,
            _dir: dir,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The sample data it holds.
    ///
    /// # Panics
    /// When it was started with other data ([`PrometheusProcess::start_with`]).
    pub fn sample(&self) -> &SampleCluster {
        self.sample
            .as_ref()
            .expect("this Prometheus was started with the sample cluster")
    }
}

fn backfill(
    promtool: &Path,
    history: &str,
    dir: &Path,
    data_dir: &Path,
) -> Result<(), SandboxError> {
    let input = dir.join("history.om");
    std::fs::write(&input, history).map_err(io("writing history"))?;
    std::fs::create_dir_all(data_dir).map_err(io("creating the data directory"))?;
    let output = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(data_dir)
        .output()
        .map_err(io(format!("running {}", promtool.display())))?;
    if !output.status.success() {
        return Err(SandboxError::CommandFailed {
            what: "promtool tsdb create-blocks-from openmetrics".into(),
            output: String::from_utf8_lossy(&output.stderr).into_owned()
                + &String::from_utf8_lossy(&output.stdout),
        });
    }
    Ok(())
}

fn scrape_config(address: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["{address}"]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_goroutines
        target_label: namespace
        replacement: team-a
"#
    )
}

/// A port that was free a moment ago on the loopback interface.
pub(crate) fn free_port() -> Result<u16, SandboxError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("finding a free port"))?
        .port())
}
