//! Shipping what the simulated cluster produces (logs, traces) as its agents
//! would: every few seconds, what happened since the last delivery, at most
//! ten minutes per request, retried until it is accepted (nothing is skipped).

/// Sends `[shipped, now)` with `request(client, from, to)` every `every`,
/// starting at `from` (Unix seconds), until `stop`.
pub(crate) async fn periodically(
    what: &str,
    from: i64,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
    request: impl Fn(&reqwest::Client, i64, i64) -> reqwest::RequestBuilder,
) {
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shipping {what} disabled: {e}");
            return;
        }
    };
    tokio::pin!(stop);
    let mut shipped_to = from;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(shipped_to);
        let until = now.min(shipped_to + 600);
        let mut behind = false;
        if until > shipped_to {
            match request(&client, shipped_to, until).send().await {
                Ok(r) if r.status().is_success() => {
                    shipped_to = until;
                    behind = until < now;
                }
                Ok(r) => eprintln!("shipping {what}: answered {}", r.status()),
                Err(e) => eprintln!("shipping {what}: {e}"),
            }
        }
        // Catch up without pausing; wait after a failure or once current.
        if behind {
            continue;
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
