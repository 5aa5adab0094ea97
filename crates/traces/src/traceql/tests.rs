use super::*;
use crate::span::{Place, Span, Tag, TagValue};
use crate::{SpanId, TraceId};
use periscope_model::ErrorKind;

fn span() -> Span {
    Span {
        trace_id: TraceId([1; 16]),
        span_id: SpanId([2; 8]),
        parent_span_id: None,
        service: "api".into(),
        operation: "GET /orders".into(),
        kind: 2,
        status_code: 2,
        start: 0,
        duration: 1_500_000_000,
        place: Place {
            namespace: "shop".into(),
            ..Place::default()
        },
        tags: vec![
            Tag::string("http.method", "GET"),
            Tag {
                key: "http.status_code".into(),
                value: TagValue::Int64(503),
            },
            Tag {
                key: "retry".into(),
                value: TagValue::Bool(true),
            },
        ],
        resource: vec![Tag::string("deployment.environment", "prod")].into(),
        events: vec![],
        links: vec![],
    }
}

fn matches(q: &str) -> bool {
    let s = span();
    parse(q)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .matches(&s, TraceContext { root: Some(&s) })
}

#[test]
fn golden_filters_match_as_tempo_defines_them() {
    for q in [
        "{}",
        "{ }",
        r#"{ resource.service.name = "api" }"#,
        r#"{ .service.name = "api" && duration > 1s && status = error }"#,
        r#"{ name =~ "GET .*" }"#,
        r#"{ name !~ "POST.*" }"#,
        "{ span.http.status_code >= 500 }",
        "{ .http.status_code = 503 && kind = server }",
        "{ duration >= 1500ms && duration < 1.6s }",
        "{ duration > 1000000000 }",
        r#"{ resource.deployment.environment = "prod" }"#,
        r#"{ resource.k8s.namespace.name = "shop" }"#,
        "{ span.retry = true }",
        "{ span.missing = nil }",
        "{ span.http.method != nil }",
        r#"{ !(status = ok) && (name = "x" || rootServiceName = "api") }"#,
        r#"{ rootName = "GET /orders" }"#,
        "{ span.http.status_code > 499.5 }",
        r#"{ span.http.method = `GET` }"#,
        r#"{ span.http.method = "GET" || span.http.method = "POST" && status = ok }"#,
    ] {
        assert!(matches(q), "{q} should match");
    }
    for q in [
        r#"{ resource.service.name = "web" }"#,
        r#"{ span.deployment.environment = "prod" }"#,
        "{ span.missing = 1 }",
        "{ span.missing != 1 }",
        "{ span.http.method = nil }",
        "{ status = ok }",
        "{ kind = client }",
        "{ duration < 1s }",
        r#"{ name =~ "GET" }"#,
        r#"{ span.http.status_code = "503" }"#,
        r#"{ (span.http.method = "GET" || span.http.method = "POST") && status = ok }"#,
    ] {
        assert!(!matches(q), "{q} should not match");
    }
}

#[test]
fn and_binds_tighter_than_or() {
    let q = parse(r#"{ name = "a" || name = "b" && status = ok }"#).unwrap();
    assert!(matches!(q, Filter::Or(..)), "{q:?}");
    assert_eq!(
        parse(r#"{ name = "a" && duration > 1s }"#)
            .unwrap()
            .required()
            .len(),
        2
    );
    assert!(parse(r#"{ name = "a" || duration > 1s }"#)
        .unwrap()
        .required()
        .is_empty());
    assert!(parse(r#"{ rootServiceName = "a" }"#).unwrap().reads_root());
}

#[test]
fn constructs_outside_the_subset_are_named() {
    for (q, named) in [
        (r#"{ name = "a" } | count() > 2"#, "pipeline"),
        (r#"{ name = "a" } && { name = "b" }"#, "spanset operators"),
        (r#"{ name = "a" } >> { name = "b" }"#, "structural operator"),
        (r#"{ name = "a" } ~ { name = "b" }"#, "sibling"),
        (r#"{ event.name = "x" }"#, "`event` scope"),
        (r#"{ span:name = "x" }"#, "scoped intrinsic"),
        ("{ traceDuration > 1s }", "intrinsic `traceDuration`"),
        (r#"{ parent.name = "x" }"#, "`parent` scope"),
    ] {
        let e = parse(q).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequest, "{q}");
        assert!(e.message().contains(named), "{q}: {e}");
    }
}

#[test]
fn malformed_queries_are_clear_errors() {
    for q in [
        "",
        "name = \"a\"",
        "{",
        "{ name }",
        "{ name = }",
        "{ name = \"a\" ",
        "{ name = \"a }",
        "{ status = 1 }",
        "{ status > error }",
        "{ kind = error }",
        "{ duration =~ \"1s\" }",
        "{ name = 1 }",
        "{ span. = 1 }",
        "{ name =~ \"(\" }",
        "{ foo = 1 }",
        "{ .a = bare }",
        "{ duration > 1parsec }",
        "{ (name = \"a\" }",
        "{ name = \"a\" ) }",
        "{ name = \"\\q\" }",
        "{ && }",
        "{ # }",
    ] {
        let e = parse(q).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequest, "{q}: {e}");
    }
    let deep = format!("{{ {}name = \"a\"{} }}", "(".repeat(100), ")".repeat(100));
    assert!(parse(&deep)
        .unwrap_err()
        .message()
        .contains("nested deeper"));
    let long = format!("{{ name = \"{}\" }}", "x".repeat(MAX_QUERY_BYTES));
    assert_eq!(parse(&long).unwrap_err().kind(), ErrorKind::PayloadTooLarge);
}

#[test]
fn mutated_queries_never_panic() {
    // Every prefix and every single-character deletion of real queries.
    let seeds = [
        r#"{ resource.service.name = "api" && duration > 1s && status = error }"#,
        r#"{ !(span.http.status_code >= 500 || name =~ "GET.*") && kind = server }"#,
        "{ .a = `raw` && duration <= 1.5ms }",
    ];
    for seed in seeds {
        let chars: Vec<char> = seed.chars().collect();
        for i in 0..=chars.len() {
            let prefix: String = chars[..i].iter().collect();
            let _ = parse(&prefix);
            let mut deleted = chars.clone();
            if i < deleted.len() {
                deleted.remove(i);
                let _ = parse(&deleted.iter().collect::<String>());
            }
            for extra in ['{', '}', '(', '"', '`', '!', '|', '&', '=', '~', 'µ', '\\'] {
                let mut inserted = chars.clone();
                inserted.insert(i, extra);
                let _ = parse(&inserted.iter().collect::<String>());
            }
        }
    }
}
