//! The durable outbox: every notification due is written (fsync'd) to the
//! data directory before it counts as sent, and delivered from there —
//! retried with backoff on 5xx and network errors (never on 4xx), across
//! restarts and receiver outages. Every attempt is recorded in the history.
//!
//! On disk it is a journal of JSON lines, `{"add": ...}` and `{"done": id}`;
//! a batch of additions costs one fsync (group commit). The journal is
//! rewritten with only the undelivered entries on start.

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

/// A journal line.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Entry {
    Add(Pending),
    Done(u64),
}

const JOURNAL: &str = "journal.jsonl";

/// The outbox and the history.
pub struct Outbox {
    dir: Option<PathBuf>,
    journal: Mutex<Option<std::fs::File>>,
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
            if let Ok(text) = std::fs::read_to_string(dir.join(JOURNAL)) {
                for line in text.lines() {
                    match serde_json::from_str::<Entry>(line) {
                        Ok(Entry::Add(p)) => {
                            pending.insert(p.id, (p, 0));
                        }
                        Ok(Entry::Done(id)) => {
                            pending.remove(&id);
                        }
                        // A torn last line from a crash mid-write was never
                        // acknowledged.
                        Err(e) => {
                            tracing::warn!(error = %e, "skipping an unreadable outbox journal line")
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
        let journal = match &dir {
            Some(dir) => Some(compact(dir, &pending)?),
            None => None,
        };
        Ok(Self {
            dir,
            journal: Mutex::new(journal),
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

    /// Stores notifications durably (one sync for all); they are delivered
    /// from then on.
    pub fn enqueue_all(&self, batch: Vec<Pending>) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch: Vec<Pending> = batch
            .into_iter()
            .map(|mut p| {
                p.id = self.next_id.fetch_add(1, Ordering::SeqCst);
                p
            })
            .collect();
        let lines: Vec<Entry> = batch.iter().cloned().map(Entry::Add).collect();
        self.append(&lines, true)?;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for p in batch {
            pending.insert(p.id, (p, 0));
        }
        drop(pending);
        self.wake.notify_one();
        Ok(())
    }

    /// Appends journal lines, syncing when asked.
    fn append(&self, entries: &[Entry], sync: bool) -> Result<(), String> {
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let Some(file) = journal.as_mut() else {
            return Ok(());
        };
        let mut text = String::new();
        for e in entries {
            text.push_str(&serde_json::to_string(e).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        file.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        if sync {
            file.sync_data().map_err(|e| e.to_string())?;
        }
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
            drop(pending);
            // Not synced: after a crash an entry may be delivered once more
            // (at least once), never lost.
            if let Err(e) = self.append(&[Entry::Done(p.id)], false) {
                tracing::warn!(error = %e, "writing the outbox journal failed");
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

/// Rewrites the journal with only the undelivered entries and opens it for
/// appending.
fn compact(dir: &Path, pending: &BTreeMap<u64, (Pending, i64)>) -> Result<std::fs::File, String> {
    let path = dir.join(JOURNAL);
    let mut text = String::new();
    for (p, _) in pending.values() {
        text.push_str(&serde_json::to_string(&Entry::Add(p.clone())).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    crate::files::write_atomically(&path, text.as_bytes())?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(receiver: &str) -> Pending {
        Pending {
            id: 0,
            receiver: receiver.into(),
            url: "http://127.0.0.1:9/hook".into(),
            group_key: "{}:{}".into(),
            namespaces: vec![],
            owner: None,
            body: serde_json::json!({"status": "firing", "alerts": []}),
            created: 0,
            attempts: 0,
        }
    }

    #[test]
    fn stored_notifications_come_back_after_a_restart_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(Some(dir.path())).unwrap();
        outbox
            .enqueue_all(vec![pending("a"), pending("b"), pending("c")])
            .unwrap();
        let ids: Vec<u64> = outbox.pending().iter().map(|p| p.id).collect();
        outbox.append(&[Entry::Done(ids[1])], false).unwrap();
        drop(outbox);
        // A crash in the middle of a write leaves half a line.
        let journal = dir.path().join("outbox").join(JOURNAL);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        f.write_all(b"{\"add\":{\"id\":99,\"rece").unwrap();
        drop(f);

        let outbox = Outbox::open(Some(dir.path())).unwrap();
        let receivers: Vec<String> = outbox
            .pending()
            .iter()
            .map(|p| p.receiver.clone())
            .collect();
        assert_eq!(receivers, ["a", "c"]);
        outbox.enqueue_all(vec![pending("d")]).unwrap();
        let ids: Vec<u64> = outbox.pending().iter().map(|p| p.id).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids keep increasing: {ids:?}"
        );
        // The journal was compacted on open: the torn line is gone.
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(!text.contains("\"rece\n") && !text.contains("99"), "{text}");
    }
}
