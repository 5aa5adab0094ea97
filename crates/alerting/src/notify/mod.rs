//! Notifications: Alertmanager's routing tree, grouping, inhibition and
//! dedup, the webhook message (version 4), and a durable outbox with retries
//! and a history of every attempt.

mod dispatch;
mod matcher;
mod outbox;
mod payload;
mod route;
mod silence;

pub use dispatch::{Dispatcher, NotificationConfig, TenantReceiver, Webhook};
pub use matcher::Matcher;
pub use outbox::{Attempt, Outbox, Pending};
pub use payload::{fingerprint, go_time, label_set_string, webhook_message, PipelineAlert};
pub use route::{GroupBy, Route, RouteFile};
pub use silence::{Silence, SilenceMatcher, Silences};
