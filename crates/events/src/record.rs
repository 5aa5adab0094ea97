//! The normalised event.

use serde::Serialize;

/// The object an event is about (`involvedObject`, events/v1 `regarding`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub api_version: String,
    /// E.g. `spec.containers{web}`.
    pub field_path: String,
}

/// One event object with all its occurrences so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// The cluster it came from (the exporter's, else the shipper's).
    pub cluster: String,
    /// `metadata.uid`; events without one get a key from their name.
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub involved: ObjectRef,
    pub reason: String,
    pub message: String,
    /// `Normal` or `Warning`.
    pub event_type: String,
    /// `source.component` / `reportingComponent` / `reportingController`.
    pub component: String,
    /// `source.host` / `reportingInstance`.
    pub host: String,
    pub action: String,
    /// How many times it happened.
    pub count: u64,
    /// Unix ns.
    pub first_seen: i64,
    /// Unix ns: `series.lastObservedTime` › `lastTimestamp` › `eventTime`.
    pub last_seen: i64,
    /// The event's JSON as the exporter sent it (the inner object of a
    /// wrapper), with `cluster` set: what searches return.
    #[serde(skip)]
    pub raw: String,
}

/// What identifies an event object across its updates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    pub cluster: String,
    pub uid: String,
}

impl EventRecord {
    /// Its key.
    pub fn key(&self) -> EventKey {
        EventKey {
            cluster: self.cluster.clone(),
            uid: self.uid.clone(),
        }
    }

    /// Folds a later report of the same event object into this one: the
    /// highest count, the earliest first and latest last sighting, and the
    /// newest report's message and fields. Reports may arrive out of order
    /// or twice; merging is order-independent for the counts and times.
    pub fn merge(&mut self, other: EventRecord) {
        debug_assert_eq!(self.key(), other.key());
        let newer = other.last_seen > self.last_seen
            || (other.last_seen == self.last_seen && other.count > self.count);
        let count = self.count.max(other.count);
        let first_seen = self.first_seen.min(other.first_seen);
        let last_seen = self.last_seen.max(other.last_seen);
        if newer {
            *self = other;
        }
        self.count = count;
        self.first_seen = first_seen;
        self.last_seen = last_seen;
    }
}
