//! Starting a real Alertmanager (`prometheus-alertmanager`, Debian's package)
//! on a free loopback port.

use crate::prometheus::{find_binary, free_port, io, SandboxError, Watched};

const READY_LINE: &str = "Listening on";

/// A running Alertmanager, stopped when dropped (or when this process exits).
pub struct AlertmanagerProcess {
    url: String,
    _process: Watched,
    _dir: tempfile::TempDir,
}

impl AlertmanagerProcess {
    /// Starts Alertmanager with the configuration `config_yaml` (clustering
    /// off) and waits until it listens.
    pub fn start(config_yaml: &str) -> Result<Self, SandboxError> {
        let binary = find_binary("prometheus-alertmanager", "PERISCOPE_ALERTMANAGER_BIN")
            .or_else(|_| find_binary("alertmanager", "PERISCOPE_ALERTMANAGER_BIN"))?;
        let dir = tempfile::Builder::new()
            .prefix("periscope-alertmanager-")
            .tempdir()
            .map_err(io("creating a temporary directory"))?;
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, config_yaml).map_err(io("writing alertmanager.yml"))?;
        let address = format!("127.0.0.1:{}", free_port()?);
        let process = Watched::spawn(
            &binary,
            &[
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", dir.path().join("data").display()),
                format!("--web.listen-address={address}"),
                "--cluster.listen-address=".into(),
                "--log.level=info".into(),
            ],
            READY_LINE,
        )?;
        Ok(Self {
            url: format!("http://{address}"),
            _process: process,
            _dir: dir,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41235`.
    pub fn url(&self) -> &str {
        &self.url
    }
}
