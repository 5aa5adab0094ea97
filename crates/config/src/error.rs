use std::fmt;

/// One problem found by validation: where (a key path) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Key path such as `principals[1].workspaces`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Issue {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The TOML is malformed or has keys of the wrong type or name.
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    /// A `PERISCOPE_*` variable names no valid key path.
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    /// The configuration parsed but is inconsistent.
    #[error("{source_name}: invalid configuration:\n{}", IssueList(.issues))]
    Invalid {
        source_name: String,
        issues: Vec<Issue>,
    },
}

struct IssueList<'a>(&'a [Issue]);

impl fmt::Display for IssueList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {}: {}", issue.key, issue.reason)?;
        }
        Ok(())
    }
}
