//! The synthetic container lines of the log search benches: 10 million
//! time-ordered lines over a day in 200 namespaces of 5 pods, about 1 % of
//! them a timeout error.

use super::Rng;
use periscope_logs::LogRecord;
use periscope_store::StoreOptions;
use std::path::Path;

/// Lines of the large data set.
pub const LINES: u64 = 10_000_000;
pub const NAMESPACES: u64 = 200;
pub const PODS_PER_NAMESPACE: u64 = 5;
/// 2026-11-25T00:00:00Z.
pub const START: i64 = 1_795_564_800_000_000_000;
/// A day, ns.
pub const DAY: i64 = 86_400_000_000_000;
/// Lines ingested at once.
pub const CHUNK: u64 = 50_000;

/// Line `i`: time-ordered over the day; about 1 % mention a timeout.
pub fn record(i: u64, rng: &mut Rng) -> LogRecord {
    let ns = rng.next() % NAMESPACES;
    let pod = rng.next() % PODS_PER_NAMESPACE;
    let roll = rng.next() % 1000;
    let log = match roll {
        0..=9 => format!(
            "ERROR upstream Timeout after 30000 ms calling payments-{}",
            rng.next() % 50
        ),
        10..=99 => format!(
            "WARN slow request id={} took {} ms",
            rng.next() % 1_000_000,
            rng.next() % 5000
        ),
        _ => format!(
            "10.244.{}.{} - - \"GET /api/v1/items/{} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0\"",
            rng.next() % 8,
            rng.next() % 250,
            rng.next() % 100_000,
            rng.next() % 20_000
        ),
    };
    LogRecord {
        time: START + (i as i128 * DAY as i128 / LINES as i128) as i64,
        namespace: format!("ns-{ns}"),
        pod: format!("ns-{ns}-web-5d8f7c9b6d-p{pod:04}"),
        container: "app".into(),
        docker_id: format!("{ns:08x}{pod:08x}"),
        image: "registry.example/web:1".into(),
        log,
        fields: None,
    }
}

/// A store in `dir` that keeps up to 2 GiB in memory before flushing.
pub fn store_options(dir: &Path) -> StoreOptions {
    let mut options = StoreOptions::new(dir.join("store"));
    options.max_buffered_bytes = 2 << 30;
    options
}
