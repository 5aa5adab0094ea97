//! Periscope's configuration: a TOML file, overridden by `PERISCOPE_*` environment
//! variables, then validated as a whole.
//!
//! ```toml
//! [server]
//! http_listen = "127.0.0.1:9480"
//!
//! [[clusters]]
//! name = "default"
//! prometheus = { url = "http://127.0.0.1:9090", timeout = "30s" }
//! ```
//!
//! Environment overrides name a key path with `__` between segments and array
//! indices as numbers: `PERISCOPE_SERVER__HTTP_LISTEN=0.0.0.0:9480`,
//! `PERISCOPE_CLUSTERS__0__PROMETHEUS__URL=http://prom:9090`. The loader takes the
//! environment as a map so tests never touch the process environment.

mod duration;
mod env;
mod error;
mod model;
mod validate;

pub use error::{ConfigError, Issue};
pub use model::*;

use std::collections::HashMap;
use std::path::Path;

impl Config {
    /// Reads `path`, applies `PERISCOPE_*` overrides from `env` and validates.
    pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string(), env)
    }

    /// Parses `text` (named `source` in error messages), applies overrides, validates.
    pub fn from_toml(
        text: &str,
        source: &str,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    source_name: source.to_string(),
                    message: e.to_string(),
                })?;
        validate::reject_plain_tokens(&table, source)?;
        let overridden = env::apply_overrides(&mut table, env)?;
        let config: Config = if overridden {
            let merged = toml::to_string(&table).map_err(|e| ConfigError::Parse {
                source_name: source.to_string(),
                message: e.to_string(),
            })?;
            toml::from_str(&merged).map_err(|e| ConfigError::Parse {
                source_name: format!("{source} (after PERISCOPE_* overrides)"),
                message: e.to_string(),
            })?
        } else {
            toml::from_str(text).map_err(|e| ConfigError::Parse {
                source_name: source.to_string(),
                message: e.to_string(),
            })?
        };
        let issues = validate::validate(&config);
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                source_name: source.to_string(),
                issues,
            })
        }
    }

    /// The cluster requests go to when they name none: the one called `default`,
    /// else the first.
    pub fn default_cluster(&self) -> &ClusterConfig {
        self.clusters
            .iter()
            .find(|c| c.name == "default")
            .unwrap_or(&self.clusters[0])
    }

    /// A cluster's log backend, the embedded store's directory resolved:
    /// its own setting, else `<storage.data_dir>/logs/<cluster>`. Without a
    /// `logs` setting a cluster uses the embedded store when `[storage]` is
    /// configured, and has no log backend otherwise.
    pub fn logs_backend(&self, cluster: &ClusterConfig) -> Option<LogsConfig> {
        match &cluster.logs {
            Some(LogsConfig::Elasticsearch(es)) => Some(LogsConfig::Elasticsearch(es.clone())),
            Some(LogsConfig::Embedded(e)) => self
                .embedded(cluster, "logs", Some(e))
                .map(LogsConfig::Embedded),
            None => self
                .embedded(cluster, "logs", None)
                .map(LogsConfig::Embedded),
        }
    }

    /// The trace backend of `cluster`, resolved like [`Config::logs_backend`]
    /// (`<storage.data_dir>/traces/<cluster>` by default).
    pub fn traces_backend(&self, cluster: &ClusterConfig) -> Option<TracesConfig> {
        match &cluster.traces {
            Some(TracesConfig::Jaeger(j)) => Some(TracesConfig::Jaeger(j.clone())),
            Some(TracesConfig::Embedded(e)) => self
                .embedded(cluster, "traces", Some(e))
                .map(TracesConfig::Embedded),
            None => self
                .embedded(cluster, "traces", None)
                .map(TracesConfig::Embedded),
        }
    }

    /// Where `cluster`'s Kubernetes events are kept, resolved like
    /// [`Config::logs_backend`] (`<storage.data_dir>/events/<cluster>`).
    pub fn events_backend(&self, cluster: &ClusterConfig) -> Option<RecordsConfig> {
        self.records_backend(cluster, "events", cluster.events.as_ref())
    }

    /// Where `cluster`'s audit records are kept, resolved like
    /// [`Config::logs_backend`] (`<storage.data_dir>/audit/<cluster>`).
    pub fn audit_backend(&self, cluster: &ClusterConfig) -> Option<RecordsConfig> {
        self.records_backend(cluster, "audit", cluster.audit.as_ref())
    }

    fn records_backend(
        &self,
        cluster: &ClusterConfig,
        signal: &str,
        configured: Option<&RecordsConfig>,
    ) -> Option<RecordsConfig> {
        match configured {
            Some(RecordsConfig::Elasticsearch(es)) => {
                Some(RecordsConfig::Elasticsearch(es.clone()))
            }
            Some(RecordsConfig::Embedded(e)) => self
                .embedded(cluster, signal, Some(e))
                .map(RecordsConfig::Embedded),
            None => self
                .embedded(cluster, signal, None)
                .map(RecordsConfig::Embedded),
        }
    }

    /// An embedded store of `signal` for `cluster`: its configuration with the
    /// directory resolved, or the defaults under `[storage]` when it has none.
    fn embedded(
        &self,
        cluster: &ClusterConfig,
        signal: &str,
        configured: Option<&EmbeddedLogsConfig>,
    ) -> Option<EmbeddedLogsConfig> {
        let default_dir = || {
            self.storage
                .as_ref()
                .map(|s| s.data_dir.join(signal).join(&cluster.name))
        };
        match configured {
            Some(e) => {
                let mut e = e.clone();
                e.dir = e.dir.or_else(default_dir);
                Some(e)
            }
            None => default_dir().map(|dir| EmbeddedLogsConfig {
                dir: Some(dir),
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests;
