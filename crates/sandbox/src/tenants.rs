//! The demo's principals, shared with the tests so both exercise one configuration.

use sha2::{Digest, Sha256};
use std::fmt::Write;

/// A principal of the demo configuration and its (demo-only) bearer token.
#[derive(Debug, Clone, Copy)]
pub struct DemoTenant {
    pub name: &'static str,
    pub token: &'static str,
    /// TOML lines after `name` and `token_sha256`.
    pub grant: &'static str,
    /// What it may see, for people reading the demo output.
    pub sees: &'static str,
}

/// Demo principals. `carol`'s workspace exists only in Prometheus
/// (`kube_namespace_labels`), found by workspace discovery.
pub const DEMO_TENANTS: &[DemoTenant] = &[
    DemoTenant {
        name: "admin",
        token: "admin-demo-token",
        grant: "role = \"cluster-admin\"",
        sees: "the whole cluster",
    },
    DemoTenant {
        name: "alice",
        token: "alice-demo-token",
        grant: "role = \"workspace-viewer\"\nworkspaces = [\"ws-a\"]",
        sees: "workspace ws-a: team-a, team-a-dev",
    },
    DemoTenant {
        name: "bob",
        token: "bob-demo-token",
        grant: "role = \"workspace-viewer\"\nworkspaces = [\"ws-b\"]",
        sees: "workspace ws-b: team-b",
    },
    DemoTenant {
        name: "carol",
        token: "carol-demo-token",
        grant: "role = \"workspace-viewer\"\nworkspaces = [\"ws-c\"]",
        sees: "workspace ws-c (discovered from kube_namespace_labels): team-c",
    },
    DemoTenant {
        name: "nina",
        token: "nina-demo-token",
        grant: "role = \"namespace-viewer\"\nnamespaces = [\"team-b\"]",
        sees: "namespace team-b",
    },
    DemoTenant {
        name: "nobody",
        token: "nobody-demo-token",
        grant: "role = \"workspace-viewer\"\nworkspaces = [\"ws-empty\"]",
        sees: "an empty workspace",
    },
];

impl DemoTenant {
    /// The tenant called `name`.
    pub fn named(name: &str) -> &'static DemoTenant {
        DEMO_TENANTS
            .iter()
            .find(|t| t.name == name)
            .expect("a demo tenant of that name")
    }
}

/// The demo configuration in front of the Prometheus at `prometheus_url`.
pub fn demo_config(prometheus_url: &str, http_listen: &str, grpc_listen: &str) -> String {
    let mut out = format!(
        r#"[server]
http_listen = "{http_listen}"
grpc_listen = "{grpc_listen}"

[[clusters]]
name = "default"
prometheus = {{ url = "{prometheus_url}", timeout = "30s" }}

[[clusters]]
name = "east"
prometheus = {{ url = "{prometheus_url}", timeout = "30s" }}

[[workspaces]]
name = "ws-a"
namespaces = ["team-a", "team-a-dev"]

[[workspaces]]
name = "ws-b"
namespaces = ["team-b"]

[[workspaces]]
name = "ws-empty"
namespaces = []

[workspace_discovery]
refresh_interval = "30s"

[[promql.metric_policy]]
metric = "kube_node_labels"
access = "public"
"#
    );
    for t in DEMO_TENANTS {
        let hash = hex::encode(Sha256::digest(t.token.as_bytes()));
        let _ = write!(
            out,
            "\n[[principals]]\nname = \"{}\"\ntoken_sha256 = \"{hash}\"\n{}\n",
            t.name, t.grant
        );
    }
    out
}

/// The demo's log shipper token (the simulator sends logs with it).
pub const DEMO_INGEST_TOKEN: &str = "shipper-demo-token";

/// Configuration for the embedded stores in `data_dir` and the demo shipper.
pub fn demo_storage_config(data_dir: &std::path::Path) -> String {
    let hash = hex::encode(Sha256::digest(DEMO_INGEST_TOKEN.as_bytes()));
    format!(
        "\n[storage]\ndata_dir = {:?}\n\n[[ingest.tokens]]\nname = \"simulator\"\ntoken_sha256 = \"{hash}\"\n",
        data_dir.display().to_string()
    )
}
