//! Canonical request parameters for the Prometheus API.
//!
//! Parameters may come in the URL or in a form body (Grafana POSTs forms). To
//! leave no room for backends that read a different copy than we enforced, a
//! single-valued parameter may appear only once in total, and a repeatable one
//! (`match[]`) only in one of the two places. Only recognised parameters are
//! forwarded, always in one place.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use periscope_model::{Error, ErrorKind, Result};
use std::sync::Arc;
use std::time::Duration;

/// How long a client may take to send its request body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// URL and body parameters of one request, kept apart.
#[derive(Debug, Default)]
pub struct Params {
    url: Vec<(String, String)>,
    body: Vec<(String, String)>,
}

impl Params {
    #[cfg(test)]
    fn new(url: Vec<(String, String)>, body: Vec<(String, String)>) -> Self {
        Self { url, body }
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.url
            .iter()
            .chain(&self.body)
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A parameter that may be given at most once.
    pub fn single(&self, name: &str) -> Result<Option<String>> {
        let mut values = self.all(name);
        let first = values.next().cloned();
        if values.next().is_some() {
            return Err(Error::bad_request(format!(
                "parameter {name:?} is given more than once"
            )));
        }
        Ok(first)
    }

    /// A parameter that must be given exactly once.
    pub fn required(&self, name: &str) -> Result<String> {
        self.single(name)?
            .ok_or_else(|| Error::bad_request(format!("missing parameter {name:?}")))
    }

    /// A repeatable parameter; all its values must be in the URL or all in the body.
    pub fn repeated(&self, name: &str) -> Result<Vec<String>> {
        let in_url = self.url.iter().any(|(k, _)| k == name);
        let in_body = self.body.iter().any(|(k, _)| k == name);
        if in_url && in_body {
            return Err(Error::bad_request(format!(
                "parameter {name:?} is given both in the URL and in the body"
            )));
        }
        Ok(self.all(name).cloned().collect())
    }

    /// Refuses any parameter not among `known` (a typo would otherwise be
    /// silently ignored).
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self
            .url
            .iter()
            .chain(&self.body)
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((k, _)) => Err(Error::bad_request(format!(
                "unknown parameter {k:?}; expected one of {}",
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    /// The given single-valued parameters among `names`, as pairs to forward.
    pub fn pass_through(&self, names: &[&str]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for name in names {
            if let Some(v) = self.single(name)? {
                out.push((name.to_string(), v));
            }
        }
        Ok(out)
    }
}

impl FromRequest<Arc<AppState>> for Params {
    type Rejection = ApiError;

    async fn from_request(
        req: Request,
        state: &Arc<AppState>,
    ) -> std::result::Result<Self, Self::Rejection> {
        let url = parse_pairs(req.uri().query().unwrap_or(""));
        if req.method() != Method::POST {
            return Ok(Params {
                url,
                body: Vec::new(),
            });
        }
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let limit = state.config.server.max_body_bytes;
        let bytes = read_body(req.into_body(), limit).await?;
        match is_form {
            Some(true) => Ok(Params {
                url,
                body: parse_pairs_bytes(&bytes),
            }),
            _ if bytes.is_empty() => Ok(Params {
                url,
                body: Vec::new(),
            }),
            _ => Err(
                Error::bad_request("POST bodies must be application/x-www-form-urlencoded").into(),
            ),
        }
    }
}

pub(crate) async fn read_body(
    body: Body,
    limit: usize,
) -> std::result::Result<bytes::Bytes, ApiError> {
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(Error::new(
            ErrorKind::BadRequest,
            "request body was not received in time",
        )
        .into()),
        Ok(Err(e)) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let mut too_large = false;
            while let Some(s) = source {
                too_large |= s.is::<http_body_util::LengthLimitError>();
                source = s.source();
            }
            if too_large {
                Err(Error::new(
                    ErrorKind::PayloadTooLarge,
                    format!("request body exceeds {limit} bytes"),
                )
                .into())
            } else {
                Err(Error::bad_request(format!("cannot read request body: {e}")).into())
            }
        }
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn parse_pairs(query: &str) -> Vec<(String, String)> {
    parse_pairs_bytes(query.as_bytes())
}

fn parse_pairs_bytes(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn duplicated_parameters_are_refused() {
        let p = Params::new(pairs(&[("query", "a")]), pairs(&[("query", "b")]));
        assert!(p.single("query").is_err());
        let p = Params::new(pairs(&[("query", "a"), ("query", "b")]), vec![]);
        assert!(p.single("query").is_err());
        let p = Params::new(pairs(&[("match[]", "a")]), pairs(&[("match[]", "b")]));
        assert!(p.repeated("match[]").is_err());
        let p = Params::new(pairs(&[("match[]", "a"), ("match[]", "b")]), vec![]);
        assert_eq!(p.repeated("match[]").unwrap(), vec!["a", "b"]);
        assert_eq!(
            p.required("query").unwrap_err().message(),
            "missing parameter \"query\""
        );
    }
}
