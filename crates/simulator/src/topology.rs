//! The simulated cluster's objects, generated from a [`ClusterSpec`].

use crate::random::SplitMix64;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub seed: u64,
    pub nodes: usize,
    /// Tenant workspaces and their namespaces. `kube-system` and `monitoring`
    /// are always added, outside any workspace.
    pub workspaces: Vec<(String, Vec<String>)>,
    pub deployments_per_namespace: usize,
    pub statefulsets_per_namespace: usize,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            nodes: 4,
            workspaces: vec![
                ("ws-a".into(), vec!["team-a".into(), "team-a-dev".into()]),
                ("ws-b".into(), vec!["team-b".into()]),
            ],
            deployments_per_namespace: 2,
            statefulsets_per_namespace: 1,
        }
    }
}

/// A node and its capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    /// Average share of CPU time busy (before the periodic swing).
    pub busy: f64,
    /// This node runs hot (busy ~95 %).
    pub saturated: bool,
}

/// Kind of a workload controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    /// Kubernetes' kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// A Deployment, StatefulSet or DaemonSet.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub replicas: u32,
    /// The current ReplicaSet of a Deployment (`name-<hash>`).
    pub replicaset: Option<String>,
}

/// A container and its resource profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    /// Average CPU use in cores.
    pub cpu_cores: f64,
    /// Average working set in bytes.
    pub memory_bytes: u64,
    pub cpu_request: f64,
    pub cpu_limit: f64,
    pub memory_request: u64,
    pub memory_limit: u64,
    /// Phase offset of its load swing, in radians.
    pub phase: f64,
}

/// A pod, placed on a node, owned by a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// Index into [`Cluster::nodes`].
    pub node: usize,
    /// Index into [`Cluster::workloads`].
    pub workload: usize,
    pub containers: Vec<Container>,
    /// Its first container restarts every five minutes (CrashLoopBackOff).
    pub crash_looping: bool,
}

/// A generated cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Namespaces with their workspace, if any.
    pub namespaces: Vec<(String, Option<String>)>,
    pub nodes: Vec<Node>,
    pub workloads: Vec<Workload>,
    pub pods: Vec<Pod>,
}

const DEPLOYMENT_NAMES: &[&str] = &[
    "api", "web", "worker", "gateway", "billing", "search", "auth", "frontend",
];
const STATEFULSET_NAMES: &[&str] = &["db", "queue", "cache"];
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

impl Cluster {
    /// The cluster `spec` describes; the same spec always gives the same cluster.
    pub fn generate(spec: &ClusterSpec) -> Cluster {
        let mut rng = SplitMix64::new(spec.seed);
        let nodes: Vec<Node> = (0..spec.nodes.max(1))
            .map(|i| {
                let large = rng.below(2) == 1;
                Node {
                    name: format!("node-{}", i + 1),
                    cpu_cores: if large { 8 } else { 4 },
                    memory_bytes: if large { 32 * GIB } else { 16 * GIB },
                    busy: 0.15 + 0.35 * rng.unit(),
                    saturated: false,
                }
            })
            .collect();
        let mut cluster = Cluster {
            namespaces: Vec::new(),
            nodes,
            workloads: Vec::new(),
            pods: Vec::new(),
        };
        let saturated = rng.below(cluster.nodes.len() as u64) as usize;
        cluster.nodes[saturated].saturated = true;
        cluster.nodes[saturated].busy = 0.95;

        for (workspace, namespaces) in &spec.workspaces {
            for ns in namespaces {
                cluster
                    .namespaces
                    .push((ns.clone(), Some(workspace.clone())));
                let mut names: Vec<&str> = DEPLOYMENT_NAMES.to_vec();
                for _ in 0..spec.deployments_per_namespace.min(DEPLOYMENT_NAMES.len()) {
                    let name = names.remove(rng.below(names.len() as u64) as usize);
                    let replicas = 1 + rng.below(3) as u32;
                    cluster.add_workload(
                        &mut rng,
                        WorkloadKind::Deployment,
                        ns,
                        name,
                        replicas,
                        true,
                    );
                }
                for name in STATEFULSET_NAMES
                    .iter()
                    .take(spec.statefulsets_per_namespace)
                {
                    let replicas = 1 + rng.below(2) as u32;
                    cluster.add_workload(
                        &mut rng,
                        WorkloadKind::StatefulSet,
                        ns,
                        name,
                        replicas,
                        true,
                    );
                }
            }
        }
        cluster.namespaces.push(("kube-system".into(), None));
        let node_count = cluster.nodes.len() as u32;
        cluster.add_workload(
            &mut rng,
            WorkloadKind::Deployment,
            "kube-system",
            "coredns",
            2,
            false,
        );
        cluster.add_workload(
            &mut rng,
            WorkloadKind::DaemonSet,
            "kube-system",
            "kube-proxy",
            node_count,
            false,
        );
        cluster.namespaces.push(("monitoring".into(), None));
        cluster.add_workload(
            &mut rng,
            WorkloadKind::Deployment,
            "monitoring",
            "kube-state-metrics",
            1,
            false,
        );
        cluster.add_workload(
            &mut rng,
            WorkloadKind::DaemonSet,
            "monitoring",
            "node-exporter",
            node_count,
            false,
        );

        let tenant_pods: Vec<usize> = (0..cluster.pods.len())
            .filter(|&i| {
                cluster
                    .namespaces
                    .iter()
                    .any(|(ns, ws)| ws.is_some() && *ns == cluster.pods[i].namespace)
            })
            .collect();
        if !tenant_pods.is_empty() {
            let crashing = tenant_pods[rng.below(tenant_pods.len() as u64) as usize];
            cluster.pods[crashing].crash_looping = true;
        }
        cluster
    }

    /// `4 nodes, 6 namespaces, 16 workloads and 31 pods`.
    pub fn summary(&self) -> String {
        format!(
            "{} nodes, {} namespaces, {} workloads and {} pods",
            self.nodes.len(),
            self.namespaces.len(),
            self.workloads.len(),
            self.pods.len()
        )
    }

    fn add_workload(
        &mut self,
        rng: &mut SplitMix64,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        replicas: u32,
        sidecar: bool,
    ) {
        let replicaset =
            (kind == WorkloadKind::Deployment).then(|| format!("{name}-{}", rng.suffix(10)));
        let workload = self.workloads.len();
        self.workloads.push(Workload {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            replicas,
            replicaset: replicaset.clone(),
        });
        for r in 0..replicas {
            let (pod_name, node) = match kind {
                WorkloadKind::Deployment => (
                    format!(
                        "{}-{}",
                        replicaset.as_deref().unwrap_or(name),
                        rng.suffix(5)
                    ),
                    rng.below(self.nodes.len() as u64) as usize,
                ),
                WorkloadKind::StatefulSet => (
                    format!("{name}-{r}"),
                    rng.below(self.nodes.len() as u64) as usize,
                ),
                WorkloadKind::DaemonSet => (
                    format!("{name}-{}", rng.suffix(5)),
                    r as usize % self.nodes.len(),
                ),
            };
            let mut containers = vec![container(rng, "app")];
            if sidecar && rng.below(2) == 1 {
                containers.push(container(rng, "sidecar"));
            }
            self.pods.push(Pod {
                namespace: namespace.to_string(),
                name: pod_name,
                node,
                workload,
                containers,
                crash_looping: false,
            });
        }
    }
}

fn container(rng: &mut SplitMix64, name: &str) -> Container {
    let cpu_cores = 0.02 + 0.4 * rng.unit();
    let memory_bytes = (64 + rng.below(448)) * MIB;
    Container {
        name: name.to_string(),
        cpu_cores,
        memory_bytes,
        cpu_request: (cpu_cores * 10.0).ceil() / 10.0,
        cpu_limit: (cpu_cores * 20.0).ceil() / 10.0,
        memory_request: memory_bytes.div_ceil(128 * MIB) * 128 * MIB,
        memory_limit: memory_bytes.div_ceil(128 * MIB) * 256 * MIB,
        phase: std::f64::consts::TAU * rng.unit(),
    }
}
