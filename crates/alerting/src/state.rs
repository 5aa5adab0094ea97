//! The state of one alerting rule's alerts, with Prometheus' exact semantics
//! (`rules/alerting.go`): pending → firing after `for`, `keep_firing_for`,
//! resolved alerts kept 15 minutes, and when an alert is (re)sent to
//! Alertmanager with which `startsAt`/`endsAt`. Times are Unix milliseconds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a resolved alert is kept (and re-sent) after it resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// A label set; the identity of an alert.
pub type Labels = BTreeMap<String, String>;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    /// As Prometheus' API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule. Zero times mean "not set".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: i64,
    pub resolved_at: i64,
    pub last_sent_at: i64,
    pub valid_until: i64,
    pub keep_firing_since: i64,
}

/// A new result element of the rule's query at this evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
}

/// What is sent to Alertmanager for one alert (`POST /api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// Unix milliseconds; serialised as RFC 3339 by the sender.
    #[serde(skip)]
    pub starts_at: i64,
    #[serde(skip)]
    pub ends_at: i64,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// The alerts of one alerting rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Active alerts (pending, firing, and resolved ones within retention).
    pub alerts: BTreeMap<String, Alert>,
}

/// Why an evaluation failed (Prometheus reports these as the rule's error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// Two result elements ended up with the same labels.
    DuplicateLabelSet(Labels),
    /// More active alerts than the group's limit: all were cleared.
    LimitExceeded { limit: u64, active: u64 },
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::DuplicateLabelSet(l) => write!(
                f,
                "vector contains metrics with the same labelset after applying alert labels: {l:?}"
            ),
            EvalError::LimitExceeded { limit, active } => {
                write!(f, "exceeded limit of {limit} with {active} alerts")
            }
        }
    }
}

/// The key of a label set in [`RuleState::alerts`] (stable across restarts).
pub fn key_of(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl RuleState {
    /// Applies one evaluation at `ts` of a rule with `for_ms` and
    /// `keep_firing_for_ms`, exactly as Prometheus does.
    pub fn evaluate(
        &mut self,
        ts: i64,
        candidates: Vec<Candidate>,
        for_ms: i64,
        keep_firing_for_ms: i64,
        limit: u64,
    ) -> Result<(), EvalError> {
        let mut current: BTreeMap<String, Candidate> = BTreeMap::new();
        for c in candidates {
            let key = key_of(&c.labels);
            if current.contains_key(&key) {
                return Err(EvalError::DuplicateLabelSet(c.labels));
            }
            current.insert(key, c);
        }
        for (key, c) in &current {
            match self.alerts.get_mut(key) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = c.value;
                    existing.annotations = c.annotations.clone();
                }
                _ => {
                    self.alerts.insert(
                        key.clone(),
                        Alert {
                            labels: c.labels.clone(),
                            annotations: c.annotations.clone(),
                            state: AlertState::Pending,
                            value: c.value,
                            active_at: ts,
                            fired_at: 0,
                            resolved_at: 0,
                            last_sent_at: 0,
                            valid_until: 0,
                            keep_firing_since: 0,
                        },
                    );
                }
            }
        }
        let mut active_pending: u64 = 0;
        let mut deleted = Vec::new();
        for (key, a) in self.alerts.iter_mut() {
            if !current.contains_key(key) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_firing_for_ms > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    keep_firing = ts - a.keep_firing_since < keep_firing_for_ms;
                }
                if a.state == AlertState::Pending
                    || (a.resolved_at != 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                {
                    deleted.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = ts;
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            active_pending += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= for_ms {
                a.state = AlertState::Firing;
                a.fired_at = ts;
            }
        }
        for key in deleted {
            self.alerts.remove(&key);
        }
        if limit > 0 && active_pending > limit {
            self.alerts.clear();
            return Err(EvalError::LimitExceeded {
                limit,
                active: active_pending,
            });
        }
        Ok(())
    }

    /// The alerts to send at `ts` (firing ones every `resend_delay_ms`,
    /// resolved ones at once and then every `resend_delay_ms` while
    /// retained), marking them sent; `interval_ms` is the group's interval.
    /// `generator_url` is called only when something is due.
    pub fn due_notifications(
        &mut self,
        ts: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
        generator_url: &dyn Fn() -> String,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut url: Option<String> = None;
        for a in self.alerts.values_mut() {
            let due = a.state != AlertState::Pending
                && (a.resolved_at > a.last_sent_at || a.last_sent_at + resend_delay_ms < ts);
            if !due {
                continue;
            }
            a.last_sent_at = ts;
            a.valid_until = ts + 4 * resend_delay_ms.max(interval_ms);
            out.push(Notification {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at,
                ends_at: if a.resolved_at != 0 {
                    a.resolved_at
                } else {
                    a.valid_until
                },
                generator_url: url.get_or_insert_with(generator_url).clone(),
            });
        }
        out
    }

    /// Pending and firing alerts (what the `ALERTS` series and the alerts API show).
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .values()
            .filter(|a| a.state != AlertState::Inactive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn cand(instance: &str, value: f64) -> Candidate {
        Candidate {
            labels: Labels::from([
                ("alertname".into(), "HighLoad".into()),
                ("instance".into(), instance.into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), format!("load {value}"))]),
            value,
        }
    }

    fn only(s: &RuleState) -> &Alert {
        assert_eq!(s.alerts.len(), 1, "{s:?}");
        s.alerts.values().next().unwrap()
    }

    #[test]
    fn pending_fires_after_for_and_resolves_with_retention() {
        let mut s = RuleState::default();
        s.evaluate(0, vec![cand("a", 1.0)], 5 * MIN, 0, 0).unwrap();
        assert_eq!(only(&s).state, AlertState::Pending);
        assert!(
            s.due_notifications(0, MIN, MIN, &String::new).is_empty(),
            "pending alerts are never sent"
        );
        s.evaluate(4 * MIN, vec![cand("a", 2.0)], 5 * MIN, 0, 0)
            .unwrap();
        assert_eq!(only(&s).state, AlertState::Pending);
        assert_eq!(only(&s).annotations["summary"], "load 2");
        s.evaluate(5 * MIN, vec![cand("a", 3.0)], 5 * MIN, 0, 0)
            .unwrap();
        let a = only(&s);
        assert_eq!(
            (a.state, a.active_at, a.fired_at),
            (AlertState::Firing, 0, 5 * MIN)
        );

        let sent = s.due_notifications(5 * MIN, MIN, MIN, &|| "http://x/graph".into());
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].starts_at, 5 * MIN);
        assert_eq!(
            sent[0].ends_at,
            5 * MIN + 4 * MIN,
            "endsAt = ValidUntil while firing"
        );
        // Not again until the resend delay has passed (strictly).
        assert!(s
            .due_notifications(6 * MIN, MIN, MIN, &String::new)
            .is_empty());
        assert_eq!(
            s.due_notifications(6 * MIN + 1, MIN, MIN, &String::new)
                .len(),
            1
        );

        // Gone from the result: resolved at once, sent at once with endsAt = ResolvedAt.
        s.evaluate(7 * MIN, vec![], 5 * MIN, 0, 0).unwrap();
        assert_eq!(only(&s).state, AlertState::Inactive);
        let sent = s.due_notifications(7 * MIN, MIN, MIN, &String::new);
        assert_eq!(sent[0].ends_at, 7 * MIN);
        // Kept and re-sent for 15 minutes, then dropped.
        s.evaluate(7 * MIN + RESOLVED_RETENTION_MS, vec![], 5 * MIN, 0, 0)
            .unwrap();
        assert_eq!(s.alerts.len(), 1);
        s.evaluate(7 * MIN + RESOLVED_RETENTION_MS + 1, vec![], 5 * MIN, 0, 0)
            .unwrap();
        assert!(s.alerts.is_empty());
    }

    #[test]
    fn pending_alerts_vanish_without_a_trace_and_restart_their_for() {
        let mut s = RuleState::default();
        s.evaluate(0, vec![cand("a", 1.0)], 5 * MIN, 0, 0).unwrap();
        s.evaluate(MIN, vec![], 5 * MIN, 0, 0).unwrap();
        assert!(s.alerts.is_empty());
        s.evaluate(2 * MIN, vec![cand("a", 1.0)], 5 * MIN, 0, 0)
            .unwrap();
        assert_eq!(only(&s).active_at, 2 * MIN);
    }

    #[test]
    fn no_for_fires_at_once_and_a_return_after_resolution_is_a_new_alert() {
        let mut s = RuleState::default();
        s.evaluate(0, vec![cand("a", 1.0)], 0, 0, 0).unwrap();
        assert_eq!(only(&s).state, AlertState::Firing);
        s.evaluate(MIN, vec![], 0, 0, 0).unwrap();
        assert_eq!(only(&s).state, AlertState::Inactive);
        s.evaluate(2 * MIN, vec![cand("a", 1.0)], 0, 0, 0).unwrap();
        let a = only(&s);
        assert_eq!(
            (a.state, a.active_at, a.resolved_at),
            (AlertState::Firing, 2 * MIN, 0)
        );
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert_and_resets_when_it_returns() {
        let mut s = RuleState::default();
        let keep = 3 * MIN;
        s.evaluate(0, vec![cand("a", 1.0)], 0, keep, 0).unwrap();
        s.evaluate(MIN, vec![], 0, keep, 0).unwrap();
        assert_eq!(only(&s).state, AlertState::Firing);
        assert_eq!(only(&s).keep_firing_since, MIN);
        s.evaluate(2 * MIN, vec![cand("a", 1.0)], 0, keep, 0)
            .unwrap();
        assert_eq!(only(&s).keep_firing_since, 0);
        s.evaluate(3 * MIN, vec![], 0, keep, 0).unwrap();
        s.evaluate(5 * MIN, vec![], 0, keep, 0).unwrap();
        assert_eq!(
            only(&s).state,
            AlertState::Firing,
            "2 minutes < keep_firing_for"
        );
        s.evaluate(6 * MIN, vec![], 0, keep, 0).unwrap();
        assert_eq!(only(&s).state, AlertState::Inactive);
        assert_eq!(only(&s).resolved_at, 6 * MIN);
    }

    #[test]
    fn duplicates_and_limits_are_errors() {
        let mut s = RuleState::default();
        assert!(matches!(
            s.evaluate(0, vec![cand("a", 1.0), cand("a", 2.0)], 0, 0, 0),
            Err(EvalError::DuplicateLabelSet(_))
        ));
        let e = s
            .evaluate(0, vec![cand("a", 1.0), cand("b", 1.0)], 0, 0, 1)
            .unwrap_err();
        assert_eq!(
            e,
            EvalError::LimitExceeded {
                limit: 1,
                active: 2
            }
        );
        assert!(
            s.alerts.is_empty(),
            "a limit breach clears the rule's alerts"
        );
    }
}
