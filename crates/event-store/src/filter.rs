//! An [`EventFilter`] as one DataFusion predicate.

use periscope_events::EventFilter;
use periscope_record_store::filters::{any_ilike, exact_any_case, one_of, scope};
use periscope_store::datafusion::logical_expr::Expr;

/// The predicate for everything but the time range (the scan applies that).
pub(crate) fn predicate(filter: &EventFilter) -> Option<Expr> {
    let parts = [
        scope("namespace", &filter.namespaces),
        one_of("object_name", &filter.names),
        any_ilike("object_name", &filter.name_search),
        one_of("object_kind", &filter.kinds),
        exact_any_case("object_kind", &filter.kinds_any_case),
        one_of("reason", &filter.reasons),
        any_ilike("reason", &filter.reason_search),
        any_ilike("message", &filter.message_search),
        one_of("type", &filter.types),
    ];
    parts.into_iter().flatten().reduce(Expr::and)
}
