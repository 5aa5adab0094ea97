//! The durable outbox: every notification due is written (fsync'd) to the
//! data directory before it counts as sent, and delivered from there —
//! retried with backoff on 5xx and network errors (never on 4xx), across
//! restarts and receiver outages. Every attempt is recorded in the history.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// History entries kept in memory for the API (the file keeps them all).
const HISTORY_IN_MEMORY: usize = 10_000;

/// A notification waiting for delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub id: u64,
    pub receiver: String,
    pub url: String,
    pub group_key: String,
    /// Namespaces of the alerts in it (for per-tenant history).
    pub namespaces: Vec<String>,
    /// The tenant that owns the receiver, if it is a tenant's.
    pub owner: Option<String>,
    pub body: serde_json::Value,
    /// Unix ms when it became due.
    pub created: i64,
    #[serde(default)]
    pub attempts: u32,
}

/// One delivery attempt, as the history API lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix ms.
    pub time: i64,
    pub id: u64,
    pub receiver: String,
    pub url: String,
    pub group_key: String,
    pub namespaces: Vec<String>,
    pub owner: Option<String>,
    /// `firing` or `resolved`.
    pub status: String,
    pub alerts: usize,
    /// `delivered`, `retrying` or `failed`.
    pub result: String,
    /// HTTP status or transport error.
    pub detail: String,
}

/// The outbox and the history.
pub struct Outbox {
    dir: Option<PathBuf>,
    next_id: AtomicU64,
    pending: Mutex<BTreeMap<u64, (Pending, i64)>>,
    history: Mutex<Vec<Attempt>>,
    wake: tokio::sync::Notify,
    http: reqwest::Client,
}

impl Outbox {
    /// Opens the outbox in `data_dir/outbox` (in memory only without one),
    /// taking back every notification not yet delivered.
    pub fn open(data_dir: Option<&Path>) -> Result<Self, String> {
        let dir = data_dir.map(|d| d.join("outbox"));
        let mut pending = BTreeMap::new();
        let mut history = Vec::new();
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
                let path = entry.map_err(|e| e.to_string())?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                    match serde_json::from_slice::<Pending>(&bytes) {
                        Ok(p) => {
                            pending.insert(p.id, (p, 0));
                        }
                        Err(e) => {
                            tracing::error!(file = %path.display(), error = %e, "unreadable outbox entry")
                        }
                    }
                }
            }
            if let Ok(text) = std::fs::read_to_string(dir.join("history.jsonl")) {
                history = text
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                let skip = history.len().saturating_sub(HISTORY_IN_MEMORY);
                history.drain(..skip);
            }
        }
        let next = pending
            .keys()
            .chain(history.iter().map(|a: &Attempt| &a.id))
            .max()
            .map_or(1, |m| m + 1);
        Ok(Self {
            dir,
            next_id: AtomicU64::new(next),
            pending: Mutex::new(pending),
            history: Mutex::new(history),
            wake: tokio::sync::Notify::new(),
            http: reqwest::Client::builder()
                .timeout(SEND_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?,
        })
    }

    /// Stores a notification durably; it is delivered from then on.
    pub fn enqueue(&self, mut p: Pending) -> Result<(), String> {
        p.id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{:020}.json", p.id));
            let tmp = path.with_extension("tmp");
            let bytes = serde_json::to_vec(&p).map_err(|e| e.to_string())?;
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|e| format!("{}: {e}", path.display()))?;
        }
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p.id, (p, 0));
        self.wake.notify_one();
        Ok(())
    }

    /// Notifications not yet delivered.
    pub fn pending(&self) -> Vec<Pending> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.values().map(|(p, _)| p.clone()).collect()
    }

    /// The recorded attempts, oldest first.
    pub fn history(&self) -> Vec<Attempt> {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Delivers forever: due entries in order, one at a time per entry.
    pub async fn run(&self) {
        loop {
            let now = unix_ms();
            let due: Vec<Pending> = {
                let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                pending
                    .values()
                    .filter(|(_, not_before)| *not_before <= now)
                    .map(|(p, _)| p.clone())
                    .collect()
            };
            for p in due {
                self.attempt(p).await;
            }
            let next = {
                let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                pending.values().map(|(_, t)| *t).min()
            };
            let wait = match next {
                Some(t) => Duration::from_millis((t - unix_ms()).clamp(0, 1000) as u64),
                None => Duration::from_secs(1),
            };
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }

    async fn attempt(&self, p: Pending) {
        let response = self.http.post(&p.url).json(&p.body).send().await;
        let (result, detail) = match &response {
            Ok(r) if r.status().is_success() => ("delivered", r.status().as_u16().to_string()),
            Ok(r) if r.status().is_server_error() => ("retrying", r.status().as_u16().to_string()),
            Ok(r) => ("failed", format!("{} (not retried)", r.status().as_u16())),
            Err(e) => ("retrying", e.to_string()),
        };
        self.record(&p, result, detail);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if result == "retrying" {
            if let Some((entry, not_before)) = pending.get_mut(&p.id) {
                entry.attempts += 1;
                let backoff = Duration::from_millis(500)
                    .saturating_mul(1 << entry.attempts.min(10))
                    .min(MAX_BACKOFF);
                *not_before = unix_ms() + backoff.as_millis() as i64;
            }
        } else {
            pending.remove(&p.id);
            if let Some(dir) = &self.dir {
                let _ = std::fs::remove_file(dir.join(format!("{:020}.json", p.id)));
            }
        }
    }

    fn record(&self, p: &Pending, result: &str, detail: String) {
        let attempt = Attempt {
            time: unix_ms(),
            id: p.id,
            receiver: p.receiver.clone(),
            url: p.url.clone(),
            group_key: p.group_key.clone(),
            namespaces: p.namespaces.clone(),
            owner: p.owner.clone(),
            status: p.body["status"].as_str().unwrap_or_default().to_string(),
            alerts: p.body["alerts"].as_array().map_or(0, Vec::len),
            result: result.to_string(),
            detail,
        };
        if let Some(dir) = &self.dir {
            let line = serde_json::to_string(&attempt).unwrap_or_default();
            let append = || -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("history.jsonl"))?;
                writeln!(f, "{line}")
            };
            if let Err(e) = append() {
                tracing::warn!(error = %e, "writing notification history failed");
            }
        }
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.push(attempt);
        if history.len() > HISTORY_IN_MEMORY {
            history.remove(0);
        }
    }
}

pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
