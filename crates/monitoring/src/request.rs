//! What a drill-down request asks for, parsed and checked. The HTTP and gRPC
//! surfaces both build a [`DrillDown`] from the same textual parameters.

use crate::Level;
use periscope_model::{Error, Result};
use regex::{Regex, RegexBuilder};

/// Longest accepted `metrics` or `resources` value.
const MAX_FILTER_BYTES: usize = 4096;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 1000;
/// `limit` when none is given.
pub const DEFAULT_LIMIT: usize = 100;

/// A workload kind, as in `workloads/{kind}/...` or `?kind=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    /// Parses `deployment`, `statefulset` or `daemonset` (any case).
    pub fn parse(parameter: &str, text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" => Ok(Self::Deployment),
            "statefulset" | "statefulsets" => Ok(Self::StatefulSet),
            "daemonset" | "daemonsets" => Ok(Self::DaemonSet),
            _ => Err(Error::bad_request(format!(
                "invalid parameter {parameter:?}: {text:?} is not one of deployment, statefulset, daemonset"
            ))),
        }
    }

    /// `Deployment`, as in a `workload="Deployment:name"` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
        }
    }

    /// `deployment`, as in URLs.
    pub fn path_segment(self) -> &'static str {
        match self {
            Self::Deployment => "deployment",
            Self::StatefulSet => "statefulset",
            Self::DaemonSet => "daemonset",
        }
    }
}

/// Which resources a route lists: a level, narrowed by the route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub level: Level,
    pub node: Option<String>,
    pub workspace: Option<String>,
    pub namespace: Option<String>,
    pub workload_kind: Option<WorkloadKind>,
    pub workload_name: Option<String>,
    pub pod: Option<String>,
    pub service: Option<String>,
}

impl Selection {
    /// Every resource of `level` (narrowed by setting the fields).
    pub fn of(level: Level) -> Self {
        Self {
            level,
            node: None,
            workspace: None,
            namespace: None,
            workload_kind: None,
            workload_name: None,
            pod: None,
            service: None,
        }
    }

    /// Whether the route names one resource of its level (`nodes/{node}`)
    /// rather than listing them.
    pub fn names_one(&self) -> bool {
        match self.level {
            Level::Cluster => true,
            Level::Node => self.node.is_some(),
            Level::Workspace => self.workspace.is_some(),
            Level::Namespace => self.namespace.is_some() && self.workspace.is_none(),
            Level::Workload => self.workload_name.is_some(),
            Level::Pod => self.pod.is_some(),
            Level::Service => self.service.is_some(),
            Level::Container | Level::Operation => false,
        }
    }
}

/// A filter over names: everything, an exact list, or an anchored regex.
#[derive(Debug, Clone)]
pub enum NameFilter {
    All,
    Names(Vec<String>),
    Regex(Regex),
}

impl NameFilter {
    /// Parses a `metrics` or `resources` value: `a,b,c` is an exact list;
    /// `~regex` an anchored regular expression (RE2 syntax); empty means all.
    pub fn parse(parameter: &str, text: Option<&str>) -> Result<Self> {
        let text = text.unwrap_or_default().trim();
        if text.is_empty() {
            return Ok(Self::All);
        }
        if text.len() > MAX_FILTER_BYTES {
            return Err(Error::bad_request(format!(
                "invalid parameter {parameter:?}: longer than {MAX_FILTER_BYTES} bytes"
            )));
        }
        if let Some(pattern) = text.strip_prefix('~') {
            let regex = RegexBuilder::new(&format!("^(?:{pattern})$"))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    Error::bad_request(format!(
                        "invalid parameter {parameter:?}: not a valid regular expression: {e}"
                    ))
                })?;
            return Ok(Self::Regex(regex));
        }
        let names: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        Ok(if names.is_empty() {
            Self::All
        } else {
            Self::Names(names)
        })
    }

    /// Whether `name` passes.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Names(names) => names.iter().any(|n| n == name),
            Self::Regex(r) => r.is_match(name),
        }
    }
}

/// Instant or range evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// At `time` (Unix seconds).
    Instant { time: f64 },
    /// From `start` to `end` every `step` seconds.
    Range { start: f64, end: f64, step: f64 },
}

/// Sort order of the `sort` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortBy {
    pub metric: String,
    pub descending: bool,
}

impl SortBy {
    /// From `sort_metric` and `sort` (`asc` or `desc`, default `desc`).
    pub fn parse(metric: Option<String>, order: Option<&str>) -> Result<Option<Self>> {
        let descending = match order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(Error::bad_request(format!(
                    "invalid parameter \"sort\": {other:?} is not asc or desc"
                )))
            }
        };
        match metric {
            Some(metric) if !metric.is_empty() => Ok(Some(Self { metric, descending })),
            _ if order.is_some() => Err(Error::bad_request(
                "parameter \"sort\" needs \"sort_metric\"",
            )),
            _ => Ok(None),
        }
    }
}

/// Which page of the sorted resources to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based.
    pub page: usize,
    pub limit: usize,
}

impl Paging {
    /// From `page` (default 1) and `limit` (default 100, at most 1000).
    pub fn parse(page: Option<&str>, limit: Option<&str>) -> Result<Self> {
        let number = |name: &str, text: Option<&str>, default: usize, max: usize| {
            let Some(text) = text else {
                return Ok(default);
            };
            match text.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(Error::bad_request(format!(
                    "invalid parameter {name:?}: {text:?} is not an integer from 1 to {max}"
                ))),
            }
        };
        Ok(Self {
            page: number("page", page, 1, usize::MAX)?,
            limit: number("limit", limit, DEFAULT_LIMIT, MAX_LIMIT)?,
        })
    }
}

/// A complete drill-down request.
#[derive(Debug, Clone)]
pub struct DrillDown {
    pub selection: Selection,
    pub metrics: NameFilter,
    pub resources: NameFilter,
    pub window: Window,
    /// The window is the latest data (no `time` asked): an evaluation made
    /// moments earlier for another viewer may answer it.
    pub latest: bool,
    pub sort: Option<SortBy>,
    pub paging: Paging,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filters_are_lists_or_anchored_regexes() {
        let list = NameFilter::parse("resources", Some("a, b.c")).unwrap();
        assert!(list.matches("b.c") && !list.matches("bxc") && !list.matches("a,"));
        let re = NameFilter::parse("metrics", Some("~node_cpu_.*")).unwrap();
        assert!(re.matches("node_cpu_usage") && !re.matches("x_node_cpu_usage"));
        assert!(NameFilter::parse("metrics", Some("")).unwrap().matches("x"));
        let e = NameFilter::parse("metrics", Some("~(")).unwrap_err();
        assert!(e.message().contains("\"metrics\""), "{e}");
    }

    #[test]
    fn sort_and_paging_parameters_are_checked() {
        assert_eq!(
            SortBy::parse(Some("m".into()), Some("ASC")).unwrap(),
            Some(SortBy {
                metric: "m".into(),
                descending: false
            })
        );
        assert!(SortBy::parse(None, Some("asc")).is_err());
        assert!(SortBy::parse(Some("m".into()), Some("up"))
            .unwrap_err()
            .message()
            .contains("\"sort\""));
        assert_eq!(
            Paging::parse(None, None).unwrap(),
            Paging {
                page: 1,
                limit: DEFAULT_LIMIT
            }
        );
        assert!(Paging::parse(Some("0"), None)
            .unwrap_err()
            .message()
            .contains("\"page\""));
        assert!(Paging::parse(None, Some("5000"))
            .unwrap_err()
            .message()
            .contains("\"limit\""));
    }
}
