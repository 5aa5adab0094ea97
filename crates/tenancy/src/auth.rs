//! Bearer/Basic authentication against the SHA-256 token hashes in configuration.

use base64::Engine;
use periscope_config::{Config, Limits, Role};
use periscope_model::{Error, Result};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// An authenticated identity and what configuration grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// Workspaces granted (workspace-viewer).
    pub workspaces: Vec<String>,
    /// Namespaces granted (namespace-viewer).
    pub namespaces: Vec<String>,
    /// Effective limits (global defaults with this principal's overrides).
    pub limits: Limits,
}

/// Maps a presented token to what it identifies. Comparison is constant-time
/// and touches every configured hash, so timing reveals neither which entry
/// matched nor how much of a hash did.
pub struct TokenTable<T> {
    entries: Vec<([u8; 32], Arc<T>)>,
}

impl<T> TokenTable<T> {
    /// A table of `(hex SHA-256 of the token, identity)`. Validation
    /// guarantees 64 hex digits; a bad value never matches.
    pub fn new(entries: impl IntoIterator<Item = (String, T)>) -> Self {
        let entries = entries
            .into_iter()
            .map(|(hex_hash, identity)| {
                let mut hash = [0u8; 32];
                let _ = hex::decode_to_slice(&hex_hash, &mut hash);
                (hash, Arc::new(identity))
            })
            .collect();
        Self { entries }
    }

    /// Authenticates an `Authorization` header value (`Bearer <token>` or
    /// `Basic base64(user:token)`, the user name being ignored).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Arc<T>> {
        let header = authorization
            .ok_or_else(|| Error::unauthenticated("missing Authorization header (Bearer token or Basic auth with the token as password)"))?;
        let token = token_from_header(header)?;
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = subtle::Choice::from(0u8);
        let mut index = 0u64;
        for (i, (hash, _)) in self.entries.iter().enumerate() {
            let matches = hash.ct_eq(&presented);
            index.conditional_assign(&(i as u64), matches);
            found |= matches;
        }
        if bool::from(found) {
            Ok(Arc::clone(&self.entries[index as usize].1))
        } else {
            Err(Error::unauthenticated("invalid token"))
        }
    }
}

/// The principals of the configuration.
pub type Authenticator = TokenTable<Principal>;

impl Authenticator {
    /// Builds the table from validated configuration.
    pub fn from_config(config: &Config) -> Self {
        TokenTable::new(config.principals.iter().map(|p| {
            let principal = Principal {
                name: p.name.clone(),
                role: p.role,
                workspaces: p.workspaces.clone(),
                namespaces: p.namespaces.clone(),
                limits: config.limits.with_override(&p.limits),
            };
            (p.token_sha256.clone(), principal)
        }))
    }
}

/// A log shipper, identified by an ingest token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipper {
    pub name: String,
    /// The cluster its lines belong to.
    pub cluster: String,
}

/// The ingest tokens of the configuration.
pub type IngestAuthenticator = TokenTable<Shipper>;

impl IngestAuthenticator {
    /// Builds the table from validated configuration.
    pub fn ingest_from_config(config: &Config) -> Self {
        let default_cluster = config.default_cluster().name.clone();
        TokenTable::new(config.ingest.tokens.iter().map(|t| {
            let shipper = Shipper {
                name: t.name.clone(),
                cluster: t.cluster.clone().unwrap_or_else(|| default_cluster.clone()),
            };
            (t.token_sha256.clone(), shipper)
        }))
    }
}

fn token_from_header(header: &str) -> Result<String> {
    let (scheme, rest) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| Error::unauthenticated("malformed Authorization header"))?;
    let rest = rest.trim();
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        rest.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| Error::unauthenticated("malformed Basic credentials"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| Error::unauthenticated("malformed Basic credentials"))?;
        let (_user, password) = text
            .split_once(':')
            .ok_or_else(|| Error::unauthenticated("malformed Basic credentials"))?;
        password.to_string()
    } else {
        return Err(Error::unauthenticated(format!(
            "unsupported Authorization scheme {scheme:?} (use Bearer or Basic)"
        )));
    };
    if token.is_empty() {
        return Err(Error::unauthenticated("empty token"));
    }
    Ok(token)
}

/// Lower-case hex SHA-256 of `token`, the form stored in configuration.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn authenticator() -> Authenticator {
        let text = format!(
            r#"
[[clusters]]
name = "default"
prometheus = {{ url = "http://127.0.0.1:9090" }}
[[workspaces]]
name = "ws-a"
namespaces = ["team-a"]
[[principals]]
name = "alice"
token_sha256 = "{}"
role = "workspace-viewer"
workspaces = ["ws-a"]
[[principals]]
name = "root"
token_sha256 = "{}"
role = "cluster-admin"
"#,
            token_sha256("alice-token"),
            token_sha256("root-token")
        );
        Authenticator::from_config(&Config::from_toml(&text, "t", &HashMap::new()).unwrap())
    }

    #[test]
    fn bearer_and_basic_resolve_the_same_principal() {
        let auth = authenticator();
        assert_eq!(
            auth.authenticate(Some("Bearer alice-token")).unwrap().name,
            "alice"
        );
        assert_eq!(
            auth.authenticate(Some("bearer root-token")).unwrap().name,
            "root"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:alice-token");
        assert_eq!(
            auth.authenticate(Some(&format!("Basic {basic}")))
                .unwrap()
                .name,
            "alice"
        );
    }

    #[test]
    fn bad_credentials_are_unauthenticated() {
        let auth = authenticator();
        for header in [
            None,
            Some("Bearer nope"),
            Some("Bearer "),
            Some("Token alice-token"),
            Some("Basic !!!"),
            Some("garbage"),
        ] {
            let err = auth.authenticate(header).unwrap_err();
            assert_eq!(
                err.kind(),
                periscope_model::ErrorKind::Unauthenticated,
                "{header:?}"
            );
        }
    }
}
