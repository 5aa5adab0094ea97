//! The routing tree, with Alertmanager's semantics: children inherit unset
//! options, matching is depth-first, the first matching child wins unless it
//! has `continue`, and a node no child matches handles the alert itself.

use super::matcher::Matcher;
use crate::state::Labels;
use serde::Deserialize;
use std::time::Duration;

/// A route as written (Alertmanager's YAML).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub receiver: Option<String>,
    pub group_by: Option<Vec<String>>,
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
}

/// How alerts of a route are grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// By these labels.
    Labels(Vec<String>),
    /// `...`: every label (no grouping).
    All,
}

/// A resolved route (options inherited).
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub routes: Vec<Route>,
    /// `{}/{severity="page"}`: the chain of matcher sets from the root.
    pub key: String,
}

fn duration(at: &str, text: Option<&str>, inherited: Duration) -> Result<Duration, String> {
    match text {
        None => Ok(inherited),
        Some(t) => crate::rules::prometheus_duration(t).map_err(|e| format!("{at}: {t:?}: {e}")),
    }
}

impl Route {
    /// The root route: it must name a receiver and has Alertmanager's
    /// defaults (group_wait 30s, group_interval 5m, repeat_interval 4h).
    pub fn root(file: &RouteFile) -> Result<Route, String> {
        if !file.matchers.is_empty() {
            return Err("route: the root route must not have matchers".into());
        }
        let parent = Route {
            receiver: file
                .receiver
                .clone()
                .ok_or("route.receiver: the root route needs a receiver")?,
            group_by: GroupBy::Labels(Vec::new()),
            matchers: Vec::new(),
            continue_: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            routes: Vec::new(),
            key: String::new(),
        };
        Self::resolve("route", file, &parent, "")
    }

    fn resolve(
        at: &str,
        file: &RouteFile,
        parent: &Route,
        parent_key: &str,
    ) -> Result<Route, String> {
        let matchers = file
            .matchers
            .iter()
            .map(|m| Matcher::parse(m).map_err(|e| format!("{at}.matchers: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let set = format!(
            "{{{}}}",
            matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let key = if parent_key.is_empty() {
            set
        } else {
            format!("{parent_key}/{set}")
        };
        let group_by = match &file.group_by {
            None => parent.group_by.clone(),
            Some(labels) if labels.iter().any(|l| l == "...") => GroupBy::All,
            Some(labels) => GroupBy::Labels(labels.clone()),
        };
        let mut route = Route {
            receiver: file
                .receiver
                .clone()
                .unwrap_or_else(|| parent.receiver.clone()),
            group_by,
            matchers,
            continue_: file.continue_,
            group_wait: duration(
                &format!("{at}.group_wait"),
                file.group_wait.as_deref(),
                parent.group_wait,
            )?,
            group_interval: duration(
                &format!("{at}.group_interval"),
                file.group_interval.as_deref(),
                parent.group_interval,
            )?,
            repeat_interval: duration(
                &format!("{at}.repeat_interval"),
                file.repeat_interval.as_deref(),
                parent.repeat_interval,
            )?,
            routes: Vec::new(),
            key,
        };
        let key = route.key.clone();
        route.routes = file
            .routes
            .iter()
            .enumerate()
            .map(|(i, child)| Self::resolve(&format!("{at}.routes[{i}]"), child, &route, &key))
            .collect::<Result<_, _>>()?;
        Ok(route)
    }

    /// The routes that handle `labels`, depth-first.
    pub fn matching(&self, labels: &Labels) -> Vec<&Route> {
        if !self.matchers.iter().all(|m| m.matches(labels)) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for child in &self.routes {
            let found = child.matching(labels);
            if !found.is_empty() {
                out.extend(found);
                if !child.continue_ {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }

    /// Every receiver name the tree uses.
    pub fn receivers(&self) -> Vec<&str> {
        let mut out = vec![self.receiver.as_str()];
        for r in &self.routes {
            out.extend(r.receivers());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Route {
        let file: RouteFile = serde_yaml_ng::from_str(
            r#"
receiver: default
group_by: [alertname]
group_wait: 10s
routes:
  - matchers: ['severity="page"']
    receiver: pager
    continue: true
    group_interval: 1m
  - matchers: ['team=~"a|b"']
    receiver: teams
    routes:
      - matchers: ['team="b"']
        receiver: team-b
        group_by: ['...']
"#,
        )
        .unwrap();
        Route::root(&file).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn routing_is_depth_first_with_continue_and_inheritance() {
        let t = tree();
        let names = |l: &Labels| {
            t.matching(l)
                .iter()
                .map(|r| r.receiver.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&labels(&[("severity", "page"), ("team", "b")])),
            ["pager", "team-b"]
        );
        assert_eq!(names(&labels(&[("team", "a")])), ["teams"]);
        assert_eq!(names(&labels(&[("team", "c")])), ["default"]);
        let pager = &t.routes[0];
        assert_eq!(pager.group_wait, Duration::from_secs(10), "inherited");
        assert_eq!(pager.group_interval, Duration::from_secs(60));
        assert_eq!(pager.key, "{}/{severity=\"page\"}");
        let team_b = &t.routes[1].routes[0];
        assert_eq!(team_b.key, "{}/{team=~\"a|b\"}/{team=\"b\"}");
        assert_eq!(team_b.group_by, GroupBy::All);
        assert_eq!(
            t.group_labels(&labels(&[("alertname", "X"), ("a", "b")])),
            labels(&[("alertname", "X")])
        );
    }
}
