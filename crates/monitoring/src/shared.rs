//! Evaluated queries shared between viewers: when several people load the
//! same page within a scrape interval, Prometheus evaluates each query once.
//!
//! Entries are keyed by the request exactly as Prometheus would receive it —
//! the query *after* tenant enforcement, so it carries the caller's scope
//! matchers — which makes sharing scope-aware by construction: two callers
//! share an answer only when Prometheus would have been asked the very same
//! thing. Concurrent requests for one key wait for the first (single flight);
//! answers are kept for a time-to-live, errors are not kept.

use periscope_model::Error;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

type Cell<V> = Arc<OnceCell<Result<Arc<V>, Error>>>;

struct Entry<V> {
    created: Instant,
    cell: Cell<V>,
}

/// Answers by request key, for `ttl`, at most `capacity` of them.
pub struct SharedResults<V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

impl<V> SharedResults<V> {
    /// A cache keeping answers for `ttl` (zero: nothing is shared).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether answers are shared at all.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The answer for `key`: a kept one, the one being evaluated, or the
    /// result of `evaluate` (which then serves the others asking meanwhile).
    /// If the evaluating request is cancelled, a waiting one evaluates.
    pub async fn get_or_evaluate<F>(&self, key: String, evaluate: F) -> Result<Arc<V>, Error>
    where
        F: Future<Output = Result<V, Error>>,
    {
        if !self.enabled() {
            return evaluate.await.map(Arc::new);
        }
        let cell = self.cell(&key, Instant::now());
        let result = cell
            .get_or_init(|| async { evaluate.await.map(Arc::new) })
            .await
            .clone();
        if result.is_err() {
            // Not kept: the next request asks Prometheus again.
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries
                .get(&key)
                .is_some_and(|e| Arc::ptr_eq(&e.cell, &cell))
            {
                entries.remove(&key);
            }
        }
        result
    }

    /// The live cell of `key`, made if missing or expired; expired entries
    /// are dropped when the cache is full, then the oldest.
    fn cell(&self, key: &str, now: Instant) -> Cell<V> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get(key) {
            if now.duration_since(entry.created) < self.ttl {
                return Arc::clone(&entry.cell);
            }
        }
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            entries.retain(|_, e| now.duration_since(e.created) < self.ttl);
            if entries.len() >= self.capacity {
                if let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.created)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&oldest);
                }
            }
        }
        let cell: Cell<V> = Arc::new(OnceCell::new());
        entries.insert(
            key.to_string(),
            Entry {
                created: now,
                cell: Arc::clone(&cell),
            },
        );
        cell
    }

    /// Entries held (expired ones included until they are replaced).
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use periscope_model::ErrorKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_for_one_key_evaluate_once() {
        let shared = SharedResults::<usize>::new(Duration::from_secs(60), 16);
        let evaluations = AtomicUsize::new(0);
        let (release, released) = tokio::sync::watch::channel(false);
        let counter = &evaluations;
        let ask = || {
            let mut released = released.clone();
            shared.get_or_evaluate("q".into(), async move {
                let evaluations = counter;
                evaluations.fetch_add(1, Ordering::SeqCst);
                released.wait_for(|r| *r).await.unwrap();
                Ok(7)
            })
        };
        let all = futures::future::join_all((0..10).map(|_| ask()));
        let releaser = async {
            // Every asker is waiting on the same cell before the answer comes.
            while evaluations.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            release.send(true).unwrap();
        };
        let (answers, ()) = tokio::join!(all, releaser);
        assert!(answers.iter().all(|a| **a.as_ref().unwrap() == 7));
        assert_eq!(evaluations.load(Ordering::SeqCst), 1);
        // Kept: a later request is answered without evaluating.
        let again = shared
            .get_or_evaluate("q".into(), async { Ok(8) })
            .await
            .unwrap();
        assert_eq!(*again, 7);
        // Another key is another evaluation.
        let other = shared
            .get_or_evaluate("r".into(), async { Ok(9) })
            .await
            .unwrap();
        assert_eq!(*other, 9);
    }

    #[tokio::test]
    async fn errors_are_not_kept_and_expired_answers_are_evaluated_again() {
        let shared = SharedResults::<usize>::new(Duration::from_secs(60), 16);
        let failed = shared
            .get_or_evaluate("q".into(), async {
                Err(Error::new(ErrorKind::BackendUnavailable, "down"))
            })
            .await;
        assert!(failed.is_err());
        assert!(shared.is_empty());
        let ok = shared
            .get_or_evaluate("q".into(), async { Ok(1) })
            .await
            .unwrap();
        assert_eq!(*ok, 1);

        let fleeting = SharedResults::<usize>::new(Duration::from_secs(1), 16);
        let now = Instant::now();
        let kept = fleeting.cell("q", now);
        let within = fleeting.cell("q", now + Duration::from_millis(500));
        assert!(Arc::ptr_eq(&kept, &within));
        let after = fleeting.cell("q", now + Duration::from_secs(2));
        assert!(!Arc::ptr_eq(&kept, &after));
    }

    #[tokio::test]
    async fn a_zero_ttl_shares_nothing_and_capacity_bounds_entries() {
        let off = SharedResults::<usize>::new(Duration::ZERO, 16);
        off.get_or_evaluate("q".into(), async { Ok(1) })
            .await
            .unwrap();
        let second = off
            .get_or_evaluate("q".into(), async { Ok(2) })
            .await
            .unwrap();
        assert_eq!(*second, 2);
        assert!(off.is_empty());

        let small = SharedResults::<usize>::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            small
                .get_or_evaluate(format!("q{i}"), async move { Ok(i) })
                .await
                .unwrap();
        }
        assert_eq!(small.len(), 3);
        // The newest are kept.
        let kept = small
            .get_or_evaluate("q9".into(), async { Ok(0) })
            .await
            .unwrap();
        assert_eq!(*kept, 9);
    }

    #[tokio::test]
    async fn a_cancelled_evaluation_hands_over_to_a_waiting_request() {
        let shared = SharedResults::<usize>::new(Duration::from_secs(60), 16);
        let first = shared.get_or_evaluate("q".into(), std::future::pending());
        // Polled once (it holds the evaluation), then dropped.
        let mut first = Box::pin(first);
        assert!(futures::FutureExt::now_or_never(first.as_mut()).is_none());
        drop(first);
        let second = shared
            .get_or_evaluate("q".into(), async { Ok(5) })
            .await
            .unwrap();
        assert_eq!(*second, 5);
    }
}
