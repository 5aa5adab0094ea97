//! An embedded store's configuration as store options, the same for every
//! signal (logs, spans, events, audit).

use periscope_config::EmbeddedLogsConfig;
use periscope_model::Error;
use periscope_store::StoreOptions;
use std::path::Path;

/// The options of an embedded store whose directory the configuration
/// resolved (`Config::*_backend` always does).
pub(crate) fn store_options(e: &EmbeddedLogsConfig) -> StoreOptions {
    let dir = e
        .dir
        .clone()
        .expect("the configuration resolves the directory");
    let mut options = StoreOptions::new(dir);
    options.retention = Some(e.retention);
    options.flush_interval = e.flush_interval;
    options.max_buffered_bytes = e.max_buffered_bytes;
    // Set aside in parts of an eighth of the bound: a flush's copies
    // (sorting, encoding) stay small next to it.
    options.flush_bytes = (e.max_buffered_bytes / 8).max(1 << 20);
    options
}

/// The error of a store that would not open.
pub(crate) fn open_failed(what: &str, cluster: &str, dir: &Path, err: &Error) -> Error {
    Error::internal(format!(
        "cannot open the {what} store of cluster {cluster} in {}: {}",
        dir.display(),
        err.message()
    ))
}
