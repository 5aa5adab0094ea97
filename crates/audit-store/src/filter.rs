//! An [`AuditFilter`] as one DataFusion predicate.

use periscope_audit::AuditFilter;
use periscope_record_store::filters::{any_ilike, one_of, one_of_numbers, scope};
use periscope_store::datafusion::logical_expr::Expr;

/// The predicate for everything but the time range (the scan applies that).
pub(crate) fn predicate(filter: &AuditFilter) -> Option<Expr> {
    let parts = [
        scope("namespace", &filter.namespaces),
        one_of("name", &filter.names),
        any_ilike("name", &filter.name_search),
        one_of("resource", &filter.resources),
        one_of("subresource", &filter.subresources),
        one_of("level", &filter.levels),
        one_of("verb", &filter.verbs),
        one_of("user", &filter.users),
        any_ilike("user", &filter.user_search),
        any_ilike("groups", &filter.group_search),
        any_ilike("source_ips", &filter.source_ip_search),
        one_of_numbers("response_code", &filter.response_codes),
        one_of("response_status", &filter.response_statuses),
    ];
    parts.into_iter().flatten().reduce(Expr::and)
}
