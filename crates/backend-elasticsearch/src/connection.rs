//! One HTTP connection to an Elasticsearch or OpenSearch cluster: a client
//! with a timeout, authentication, the server's version (asked once), and
//! errors that say what went wrong. Every backend of this crate sends through it.

use crate::response;
use crate::version::Server;
use periscope_model::{Error, ErrorKind, Result};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Where the cluster is and how to authenticate.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `Authorization: ApiKey <key>`, the base64 form.
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl ConnectionConfig {
    /// The connection part of a log backend's configuration.
    pub fn of(c: &periscope_config::ElasticsearchConfig) -> ConnectionConfig {
        ConnectionConfig {
            url: c.url.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            api_key: c.api_key.clone(),
            timeout: c.timeout,
        }
    }
}

/// See the module documentation.
pub struct Connection {
    http: reqwest::Client,
    config: ConnectionConfig,
    base: String,
    server: OnceCell<Server>,
}

impl Connection {
    /// A connection (nothing is sent until the first request).
    pub fn new(config: &ConnectionConfig) -> Result<Connection> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::internal(format!("building the Elasticsearch client: {e}")))?;
        Ok(Connection {
            http,
            base: config.url.trim_end_matches('/').to_string(),
            config: config.clone(),
            server: OnceCell::new(),
        })
    }

    /// The server's kind and version (asked once with `GET /`).
    pub async fn server(&self) -> Result<Server> {
        self.server
            .get_or_try_init(|| async { Server::detect(&self.send(Method::GET, "/", None).await?) })
            .await
            .copied()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let (Some(user), Some(password)) = (&self.config.username, &self.config.password) {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(key) = &self.config.api_key {
            request = request.header(reqwest::header::AUTHORIZATION, format!("ApiKey {key}"));
        }
        request
    }

    /// Sends a JSON request; a non-2xx answer is an error with its reason.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.answer(request).await
    }

    /// Sends an NDJSON body (`_bulk`).
    pub async fn send_ndjson(&self, path: &str, body: Vec<u8>) -> Result<Value> {
        let request = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        self.answer(request).await
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&self.base, e))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| transport_error(&self.base, e))?;
        if status.is_success() {
            return Ok(body);
        }
        let reason = response::error_reason(&body);
        let message = match status.as_u16() {
            401 | 403 => {
                format!("Elasticsearch refused Periscope's credentials ({status}): {reason}")
            }
            _ => format!("Elasticsearch answered {status}: {reason}"),
        };
        Err(Error::new(ErrorKind::BackendUnavailable, message))
    }
}

fn transport_error(base: &str, e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::new(
            ErrorKind::Timeout,
            format!("Elasticsearch at {base} did not answer in time"),
        )
    } else if e.is_decode() {
        Error::new(
            ErrorKind::BackendUnavailable,
            format!("Elasticsearch at {base} answered something that is not JSON: {e}"),
        )
    } else {
        Error::new(
            ErrorKind::BackendUnavailable,
            format!("cannot reach Elasticsearch at {base}: {e}"),
        )
    }
}
