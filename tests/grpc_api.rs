//! gRPC `periscope.v1.Metrics` with a real tonic client, plus health and reflection.

mod common;

use common::*;
use periscope_proto::v1::metrics_client::MetricsClient;
use periscope_proto::v1::{QueryRangeRequest, QueryRequest, ResultType};
use tonic::transport::Channel;
use tonic::Code;

async fn client(p: &Periscope) -> MetricsClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .expect("grpc connects");
    MetricsClient::new(channel)
}

#[tokio::test]
async fn queries_are_scoped_exactly_like_http() {
    let p = periscope().await;
    let mut c = client(&p).await;
    let t = prometheus().sample().eval_time() as f64;
    let q = QueryRequest {
        query: "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))".into(),
        time: Some(t),
        ..Default::default()
    };
    let r = c
        .query(authorized(q.clone(), "alice"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result_type, ResultType::Vector as i32);
    let mut namespaces: Vec<&str> = r
        .series
        .iter()
        .map(|s| s.labels["namespace"].as_str())
        .collect();
    namespaces.sort();
    assert_eq!(namespaces, ["team-a", "team-a-dev"]);
    let team_a = r
        .series
        .iter()
        .find(|s| s.labels["namespace"] == "team-a")
        .unwrap();
    assert!((team_a.samples[0].value - 0.15).abs() < 1e-9);
    assert_eq!(team_a.samples[0].timestamp, t);

    let http = p.query("alice", &q.query).await;
    assert_eq!(
        http.body["data"]["result"].as_array().unwrap().len(),
        r.series.len()
    );

    let range = QueryRangeRequest {
        query: "up".into(),
        start: t - 600.0,
        end: t,
        step_seconds: 60.0,
        ..Default::default()
    };
    let r = c
        .query_range(authorized(range, "bob"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result_type, ResultType::Matrix as i32);
    assert_eq!(r.series.len(), 3);
    assert!(r
        .series
        .iter()
        .all(|s| s.labels["namespace"] == "team-b" && s.samples.len() == 11));

    let scalar = QueryRequest {
        query: "scalar(count(up))".into(),
        time: Some(t),
        ..Default::default()
    };
    let r = c
        .query(authorized(scalar, "alice"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result_type, ResultType::Scalar as i32);
    assert_eq!(r.scalar.unwrap().value, 6.0);
}

#[tokio::test]
async fn errors_carry_the_right_grpc_codes() {
    let p = periscope().await;
    let mut c = client(&p).await;
    let q = |query: &str| QueryRequest {
        query: query.into(),
        ..Default::default()
    };
    let unauthenticated = c.query(tonic::Request::new(q("up"))).await.unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    let forbidden = c
        .query(authorized(q("up{namespace=\"team-b\"}"), "alice"))
        .await
        .unwrap_err();
    assert_eq!(forbidden.code(), Code::PermissionDenied, "{forbidden:?}");
    assert!(forbidden.message().contains("outside your scope"));
    let invalid = c.query(authorized(q("sum("), "alice")).await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let unknown_cluster = c
        .query(authorized(
            QueryRequest {
                cluster: "nowhere".into(),
                query: "up".into(),
                ..Default::default()
            },
            "alice",
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown_cluster.code(), Code::NotFound);
    let too_many_points = QueryRangeRequest {
        query: "up".into(),
        start: 0.0,
        end: 86_400.0,
        step_seconds: 1.0,
        ..Default::default()
    };
    let limited = c
        .query_range(authorized(too_many_points, "alice"))
        .await
        .unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    let upstream = c
        .query(authorized(q("up + on() group_left() up"), "admin"))
        .await
        .unwrap_err();
    assert_eq!(
        upstream.code(),
        Code::InvalidArgument,
        "Prometheus' own execution error: {upstream:?}"
    );
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let p = periscope().await;
    let channel = Channel::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: "periscope.v1.Metrics".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"periscope.v1.Metrics".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
}
