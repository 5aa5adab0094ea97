//! Server detection from `GET /`: Elasticsearch or OpenSearch, and its major
//! version, decide the request shapes.

use periscope_model::{Error, ErrorKind, Result};
use serde_json::Value;

/// The search engine behind the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Elasticsearch { major: u32, minor: u32 },
    OpenSearch { major: u32, minor: u32 },
}

impl Server {
    /// Reads the `GET /` body. Elasticsearch before 7 is refused (no
    /// `track_total_hits`, no `fixed_interval`).
    pub fn detect(body: &Value) -> Result<Server> {
        let number = body["version"]["number"].as_str().ok_or_else(|| {
            Error::new(
                ErrorKind::BackendUnavailable,
                "the log backend's GET / has no version.number; is it Elasticsearch or OpenSearch?",
            )
        })?;
        let mut parts = number.split(['.', '-']).map(|p| p.parse::<u32>().ok());
        let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
            return Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!("unreadable log backend version {number:?}"),
            ));
        };
        let server = if body["version"]["distribution"].as_str() == Some("opensearch") {
            Server::OpenSearch { major, minor }
        } else {
            Server::Elasticsearch { major, minor }
        };
        match server {
            Server::Elasticsearch { major, minor } if major < 7 || (major == 7 && minor < 2) => Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!("Elasticsearch {number} is not supported; Periscope needs 7.2 or later (or OpenSearch)"),
            )),
            other => Ok(other),
        }
    }

    /// Whether searches page through a point in time with the implicit
    /// `_shard_doc` tie-breaker (Elasticsearch 7.12+). Otherwise `_id` breaks ties.
    pub fn point_in_time(self) -> bool {
        matches!(self, Server::Elasticsearch { major, minor } if major > 7 || (major == 7 && minor >= 12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `GET /` bodies as the Elasticsearch and OpenSearch documentation show them.
    #[test]
    fn documented_root_responses() {
        let es8 = json!({"name": "instance-0000000000", "cluster_name": "my_cluster", "cluster_uuid": "5QaxoN0pRZuOmWSxstBBwQ",
            "version": {"number": "8.11.1", "build_flavor": "default", "build_type": "docker", "build_hash": "6f9ff581fbcde658e6f69d6ce03050f060d1fd0c",
                "build_date": "2023-11-11T10:05:59.421038163Z", "build_snapshot": false, "lucene_version": "9.8.0",
                "minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "You Know, for Search"});
        assert_eq!(
            Server::detect(&es8).unwrap(),
            Server::Elasticsearch {
                major: 8,
                minor: 11
            }
        );
        assert!(Server::detect(&es8).unwrap().point_in_time());
        let os2 = json!({"name": "opensearch-node1", "cluster_name": "opensearch-cluster", "cluster_uuid": "W0B8gPotTAajhMPbC9D4ww",
            "version": {"distribution": "opensearch", "number": "2.11.0", "build_type": "tar", "build_hash": "4dcad6dd1fd45b6bd91f041a041829c8687278fa",
                "build_date": "2023-10-13T02:55:55.511945994Z", "build_snapshot": false, "lucene_version": "9.7.0",
                "minimum_wire_compatibility_version": "7.10.0", "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "The OpenSearch Project: https://opensearch.org/"});
        let os = Server::detect(&os2).unwrap();
        assert_eq!(
            os,
            Server::OpenSearch {
                major: 2,
                minor: 11
            }
        );
        assert!(!os.point_in_time());
        let es7 = json!({"version": {"number": "7.10.2", "build_flavor": "oss"}});
        assert!(!Server::detect(&es7).unwrap().point_in_time());
        let es6 = json!({"version": {"number": "6.8.22"}});
        assert!(Server::detect(&es6).unwrap_err().message().contains("7.2"));
        assert!(Server::detect(&json!({"status": "green"})).is_err());
    }
}
