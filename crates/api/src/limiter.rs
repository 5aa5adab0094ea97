//! Per-principal bound on queries in flight.

use periscope_model::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One semaphore per principal, created on first use.
#[derive(Default)]
pub(crate) struct ConcurrencyLimiter {
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl ConcurrencyLimiter {
    /// A permit for one more query by `principal`, or 429 if it already has `max` in flight.
    pub(crate) fn try_acquire(&self, principal: &str, max: u32) -> Result<OwnedSemaphorePermit> {
        let semaphore = {
            let mut map = self.semaphores.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                map.entry(principal.to_string())
                    .or_insert_with(|| Arc::new(Semaphore::new(max as usize))),
            )
        };
        semaphore.try_acquire_owned().map_err(|_| {
            Error::new(
                ErrorKind::TooManyRequests,
                format!("too many concurrent queries for {principal} (limit {max}); retry later"),
            )
        })
    }
}
