//! Prometheus text exposition of the simulated exporters at a given time.
//!
//! Load swings sinusoidally with a ten-minute period; counters are the exact
//! integrals of their rates since `start`, so `rate()` over them is known in
//! closed form.

use crate::topology::{Cluster, Pod, WorkloadKind};
use std::f64::consts::TAU;
use std::fmt::Write;

/// Period of the load swing, in seconds.
pub const PERIOD_SECONDS: f64 = 600.0;
/// Relative amplitude of a container's CPU swing.
pub const CONTAINER_CPU_SWING: f64 = 0.3;
/// Bytes in a mebibyte.
const MIB: f64 = 1_048_576.0;
/// Pods the kubelet admits per node.
const MAX_PODS_PER_NODE: f64 = 110.0;
/// Seconds between restarts of the crash-looping container.
pub const CRASH_LOOP_SECONDS: f64 = 300.0;

/// One of the simulated exporters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    /// node-exporter, one `instance` per node.
    NodeExporter,
    /// The kubelet's cAdvisor endpoint, series labelled with `node`.
    Cadvisor,
    /// kube-state-metrics.
    KubeStateMetrics,
}

impl Exporter {
    /// Every exporter.
    pub const ALL: [Exporter; 3] = [
        Exporter::NodeExporter,
        Exporter::Cadvisor,
        Exporter::KubeStateMetrics,
    ];

    /// Its path on the simulator's HTTP server: `/metrics/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Exporter::NodeExporter => "node-exporter",
            Exporter::Cadvisor => "cadvisor",
            Exporter::KubeStateMetrics => "kube-state-metrics",
        }
    }

    /// The `job` label a vanilla kube-prometheus stack gives its series
    /// (cAdvisor is scraped from the kubelet).
    pub fn job(self) -> &'static str {
        match self {
            Exporter::NodeExporter => "node-exporter",
            Exporter::Cadvisor => "kubelet",
            Exporter::KubeStateMetrics => "kube-state-metrics",
        }
    }
}

/// Prometheus `scrape_configs` items (YAML, each starting `  - job_name:`)
/// that scrape every exporter of a simulator listening on `address`.
pub fn scrape_jobs(address: &str) -> String {
    Exporter::ALL
        .iter()
        .map(|e| {
            format!(
                "  - job_name: {job}\n    honor_labels: true\n    metrics_path: /metrics/{path}\n    static_configs: [{{ targets: [\"{address}\"] }}]\n",
                job = e.job(),
                path = e.name()
            )
        })
        .collect()
}

/// `exporter`'s exposition for `cluster` at Unix time `now`, with counters
/// started at `start`.
pub fn render(cluster: &Cluster, exporter: Exporter, start: f64, now: f64) -> String {
    let mut w = Writer::default();
    let t = Time { start, now };
    match exporter {
        Exporter::NodeExporter => node_exporter(&mut w, cluster, t),
        Exporter::Cadvisor => cadvisor(&mut w, cluster, t),
        Exporter::KubeStateMetrics => kube_state_metrics(&mut w, cluster, t),
    }
    w.out
}

#[derive(Clone, Copy)]
struct Time {
    start: f64,
    now: f64,
}

impl Time {
    fn elapsed(self) -> f64 {
        (self.now - self.start).max(0.0)
    }

    /// `1 + a·sin(ωt + φ)` now.
    fn swing(self, amplitude: f64, phase: f64) -> f64 {
        1.0 + amplitude * (TAU * self.now / PERIOD_SECONDS + phase).sin()
    }

    /// ∫ base·(1 + a·sin(ωt + φ)) dt from start to now.
    fn integral(self, base: f64, amplitude: f64, phase: f64) -> f64 {
        let omega = TAU / PERIOD_SECONDS;
        let cos = |t: f64| (omega * t + phase).cos();
        base * self.elapsed() - base * amplitude / omega * (cos(self.now) - cos(self.start))
    }
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{escaped}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn node_phase(index: usize) -> f64 {
    index as f64 * 1.3
}

fn node_swing_amplitude(saturated: bool) -> f64 {
    if saturated {
        0.03
    } else {
        0.2
    }
}

fn node_exporter(w: &mut Writer, cluster: &Cluster, t: Time) {
    w.family(
        "node_cpu_seconds_total",
        "counter",
        "Seconds the CPUs spent in each mode.",
    );
    for (i, node) in cluster.nodes.iter().enumerate() {
        let busy = t.integral(
            node.busy,
            node_swing_amplitude(node.saturated),
            node_phase(i),
        );
        for cpu in 0..node.cpu_cores {
            let cpu = cpu.to_string();
            for (mode, seconds) in [
                ("idle", t.elapsed() - busy),
                ("system", 0.3 * busy),
                ("user", 0.7 * busy),
            ] {
                w.sample(
                    "node_cpu_seconds_total",
                    &[("cpu", &cpu), ("instance", &node.name), ("mode", mode)],
                    seconds,
                );
            }
        }
    }
    w.family("node_load1", "gauge", "1m load average.");
    for (i, node) in cluster.nodes.iter().enumerate() {
        let load = node.cpu_cores as f64
            * node.busy
            * t.swing(node_swing_amplitude(node.saturated), node_phase(i));
        w.sample("node_load1", &[("instance", &node.name)], load);
    }
    // The longer averages lag behind: they follow the base load.
    for family in ["node_load5", "node_load15"] {
        w.family(family, "gauge", "Load average.");
        for node in &cluster.nodes {
            let load = node.cpu_cores as f64 * node.busy;
            w.sample(family, &[("instance", &node.name)], load);
        }
    }
    w.family(
        "node_memory_MemTotal_bytes",
        "gauge",
        "Memory information field MemTotal_bytes.",
    );
    for node in &cluster.nodes {
        w.sample(
            "node_memory_MemTotal_bytes",
            &[("instance", &node.name)],
            node.memory_bytes as f64,
        );
    }
    w.family(
        "node_memory_MemAvailable_bytes",
        "gauge",
        "Memory information field MemAvailable_bytes.",
    );
    for (i, node) in cluster.nodes.iter().enumerate() {
        let used = if node.saturated {
            0.9 * node.memory_bytes as f64
        } else {
            let containers: f64 = pods_on(cluster, i)
                .flat_map(|p| &p.containers)
                .map(|c| c.memory_bytes as f64 * t.swing(0.1, c.phase))
                .sum();
            (containers + (1u64 << 30) as f64).min(0.97 * node.memory_bytes as f64)
        };
        w.sample(
            "node_memory_MemAvailable_bytes",
            &[("instance", &node.name)],
            (node.memory_bytes as f64 - used).floor(),
        );
    }
    let fs = [
        ("device", "/dev/sda1"),
        ("fstype", "ext4"),
        ("mountpoint", "/"),
    ];
    let size = 100.0 * (1u64 << 30) as f64;
    w.family(
        "node_filesystem_size_bytes",
        "gauge",
        "Filesystem size in bytes.",
    );
    for node in &cluster.nodes {
        w.sample(
            "node_filesystem_size_bytes",
            &[fs[0], fs[1], ("instance", &node.name), fs[2]],
            size,
        );
    }
    w.family(
        "node_filesystem_avail_bytes",
        "gauge",
        "Filesystem space available to non-root users in bytes.",
    );
    for node in &cluster.nodes {
        // The saturated node's disk fills at 1 MiB/s; the others stay at 55 % free.
        let avail = if node.saturated {
            (0.3 * size - (1u64 << 20) as f64 * t.elapsed()).max(0.02 * size)
        } else {
            0.55 * size
        };
        w.sample(
            "node_filesystem_avail_bytes",
            &[fs[0], fs[1], ("instance", &node.name), fs[2]],
            avail.floor(),
        );
    }
    w.family(
        "node_filesystem_files",
        "gauge",
        "Filesystem total file nodes.",
    );
    for node in &cluster.nodes {
        w.sample(
            "node_filesystem_files",
            &[fs[0], fs[1], ("instance", &node.name), fs[2]],
            6_553_600.0,
        );
    }
    w.family(
        "node_filesystem_files_free",
        "gauge",
        "Filesystem total free file nodes.",
    );
    for node in &cluster.nodes {
        w.sample(
            "node_filesystem_files_free",
            &[fs[0], fs[1], ("instance", &node.name), fs[2]],
            if node.saturated {
                655_360.0
            } else {
                5_242_880.0
            },
        );
    }
    // Every node receives 1 MiB/s and sends 512 KiB/s; a virtual interface
    // (which node metrics exclude) carries the same again.
    for (family, help, per_second) in [
        (
            "node_network_receive_bytes_total",
            "Network device statistic receive_bytes.",
            MIB,
        ),
        (
            "node_network_transmit_bytes_total",
            "Network device statistic transmit_bytes.",
            MIB / 2.0,
        ),
    ] {
        w.family(family, "counter", help);
        for node in &cluster.nodes {
            for device in ["eth0", "veth1a2b3c"] {
                w.sample(
                    family,
                    &[("device", device), ("instance", &node.name)],
                    per_second * t.elapsed(),
                );
            }
        }
    }
    // Disk traffic: 40 reads/s of 16 KiB and 20 writes/s of 64 KiB per node.
    for (family, help, per_second) in [
        (
            "node_disk_reads_completed_total",
            "The total number of reads completed successfully.",
            40.0,
        ),
        (
            "node_disk_writes_completed_total",
            "The total number of writes completed successfully.",
            20.0,
        ),
        (
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
            40.0 * 16.0 * 1024.0,
        ),
        (
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
            20.0 * 64.0 * 1024.0,
        ),
    ] {
        w.family(family, "counter", help);
        for node in &cluster.nodes {
            w.sample(
                family,
                &[("device", "sda"), ("instance", &node.name)],
                per_second * t.elapsed(),
            );
        }
    }
}

fn pods_on(cluster: &Cluster, node: usize) -> impl Iterator<Item = &Pod> {
    cluster.pods.iter().filter(move |p| p.node == node)
}

fn cadvisor(w: &mut Writer, cluster: &Cluster, t: Time) {
    let each_container =
        |w: &mut Writer, name: &str, value: &dyn Fn(&Pod, &crate::Container) -> f64| {
            for pod in &cluster.pods {
                let node = &cluster.nodes[pod.node].name;
                for c in &pod.containers {
                    let labels = [
                        ("container", c.name.as_str()),
                        ("namespace", &pod.namespace),
                        ("node", node),
                        ("pod", &pod.name),
                    ];
                    w.sample(name, &labels, value(pod, c));
                }
            }
        };
    w.family(
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed in seconds.",
    );
    each_container(w, "container_cpu_usage_seconds_total", &|_, c| {
        t.integral(c.cpu_cores, CONTAINER_CPU_SWING, c.phase)
    });
    w.family(
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set in bytes.",
    );
    each_container(w, "container_memory_working_set_bytes", &|_, c| {
        working_set(c, t)
    });
    w.family(
        "container_memory_cache",
        "gauge",
        "Number of bytes of page cache memory.",
    );
    each_container(w, "container_memory_cache", &|_, c| page_cache(c));
    w.family(
        "container_memory_usage_bytes",
        "gauge",
        "Current memory usage in bytes, including all memory regardless of when it was accessed.",
    );
    each_container(w, "container_memory_usage_bytes", &|_, c| {
        working_set(c, t) + page_cache(c)
    });
    w.family(
        "container_processes",
        "gauge",
        "Number of processes running inside the container.",
    );
    each_container(w, "container_processes", &|_, c| {
        if c.name == "app" {
            4.0
        } else {
            1.0
        }
    });
    w.family(
        "container_threads",
        "gauge",
        "Number of threads running inside the container.",
    );
    each_container(w, "container_threads", &|_, c| {
        if c.name == "app" {
            32.0
        } else {
            8.0
        }
    });
    kubelet_volume_stats(w, cluster);
    // Pod-level network counters (no container label), like the kubelet's.
    for (family, help, direction) in [
        (
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received.",
            0u8,
        ),
        (
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted.",
            1u8,
        ),
    ] {
        w.family(family, "counter", help);
        for (i, pod) in cluster.pods.iter().enumerate() {
            let labels = [
                ("interface", "eth0"),
                ("namespace", pod.namespace.as_str()),
                ("node", &cluster.nodes[pod.node].name),
                ("pod", &pod.name),
            ];
            w.sample(
                family,
                &labels,
                pod_network_rate(i, direction) * t.elapsed(),
            );
        }
    }
    w.family(
        "container_cpu_cfs_periods_total",
        "counter",
        "Number of elapsed enforcement period intervals.",
    );
    each_container(w, "container_cpu_cfs_periods_total", &|_, _| {
        (10.0 * t.elapsed()).floor()
    });
    w.family(
        "container_cpu_cfs_throttled_periods_total",
        "counter",
        "Number of throttled period intervals.",
    );
    each_container(w, "container_cpu_cfs_throttled_periods_total", &|p, _| {
        // Containers on the saturated node are throttled a quarter of the time.
        let share = if cluster.nodes[p.node].saturated {
            0.25
        } else {
            0.0
        };
        (share * 10.0 * t.elapsed()).floor()
    });
}

fn working_set(c: &crate::Container, t: Time) -> f64 {
    (c.memory_bytes as f64 * t.swing(0.1, c.phase)).floor()
}

/// Page cache: a fixed fifth of the container's base memory.
fn page_cache(c: &crate::Container) -> f64 {
    (c.memory_bytes / 5) as f64
}

/// Bytes per second a pod receives (`direction` 0) or sends (1): 1 KiB/s per
/// unit of the pod's index modulo 7, plus 1 KiB/s, halved for sending.
fn pod_network_rate(pod_index: usize, direction: u8) -> f64 {
    let receive = 1024.0 * (1 + pod_index % 7) as f64;
    if direction == 0 {
        receive
    } else {
        receive / 2.0
    }
}

/// Services (one per Deployment and StatefulSet), ConfigMaps (the root CA
/// bundle plus one per workload), Secrets (one per namespace) and a
/// PersistentVolumeClaim per StatefulSet pod.
fn namespaced_objects(w: &mut Writer, cluster: &Cluster) {
    w.family("kube_service_info", "gauge", "Information about service.");
    for wl in cluster
        .workloads
        .iter()
        .filter(|w| w.kind != WorkloadKind::DaemonSet)
    {
        let labels = [("namespace", wl.namespace.as_str()), ("service", &wl.name)];
        w.sample("kube_service_info", &labels, 1.0);
    }
    w.family(
        "kube_configmap_info",
        "gauge",
        "Information about configmap.",
    );
    for (ns, _) in &cluster.namespaces {
        let labels = [
            ("configmap", "kube-root-ca.crt"),
            ("namespace", ns.as_str()),
        ];
        w.sample("kube_configmap_info", &labels, 1.0);
    }
    for wl in &cluster.workloads {
        let name = format!("{}-config", wl.name);
        let labels = [("configmap", name.as_str()), ("namespace", &wl.namespace)];
        w.sample("kube_configmap_info", &labels, 1.0);
    }
    w.family("kube_secret_info", "gauge", "Information about secret.");
    for (ns, _) in &cluster.namespaces {
        let labels = [("namespace", ns.as_str()), ("secret", "default-token")];
        w.sample("kube_secret_info", &labels, 1.0);
    }
    w.family(
        "kube_persistentvolumeclaim_info",
        "gauge",
        "Information about persistent volume claim.",
    );
    for pod in statefulset_pods(cluster) {
        let claim = format!("data-{}", pod.name);
        let labels = [
            ("namespace", pod.namespace.as_str()),
            ("persistentvolumeclaim", &claim),
            ("storageclass", "standard"),
        ];
        w.sample("kube_persistentvolumeclaim_info", &labels, 1.0);
    }
}

fn statefulset_pods(cluster: &Cluster) -> impl Iterator<Item = &Pod> {
    cluster
        .pods
        .iter()
        .filter(|p| cluster.workloads[p.workload].kind == WorkloadKind::StatefulSet)
}

/// Size of every simulated volume: 10 GiB.
const VOLUME_BYTES: f64 = 10.0 * 1024.0 * MIB;

/// The kubelet's volume statistics of the StatefulSets' claims (same `kubelet`
/// job as cAdvisor). Volume `i` is `(30 + 7·(i mod 10))` % full.
fn kubelet_volume_stats(w: &mut Writer, cluster: &Cluster) {
    for (family, help) in [
        (
            "kubelet_volume_stats_capacity_bytes",
            "Capacity in bytes of the volume.",
        ),
        (
            "kubelet_volume_stats_used_bytes",
            "Number of used bytes in the volume.",
        ),
        (
            "kubelet_volume_stats_available_bytes",
            "Number of available bytes in the volume.",
        ),
    ] {
        w.family(family, "gauge", help);
        for (i, pod) in statefulset_pods(cluster).enumerate() {
            let claim = format!("data-{}", pod.name);
            let used = (VOLUME_BYTES * (30 + 7 * (i % 10)) as f64 / 100.0).floor();
            let value = match family {
                "kubelet_volume_stats_capacity_bytes" => VOLUME_BYTES,
                "kubelet_volume_stats_used_bytes" => used,
                _ => VOLUME_BYTES - used,
            };
            let labels = [
                ("namespace", pod.namespace.as_str()),
                ("node", &cluster.nodes[pod.node].name),
                ("persistentvolumeclaim", &claim),
            ];
            w.sample(family, &labels, value);
        }
    }
}

/// The kind and name of a pod's owner: a Deployment's pods belong to its ReplicaSet.
fn owner<'a>(cluster: &'a Cluster, pod: &Pod) -> (&'static str, &'a str) {
    let wl = &cluster.workloads[pod.workload];
    match wl.kind {
        WorkloadKind::Deployment => ("ReplicaSet", wl.replicaset.as_deref().unwrap_or(&wl.name)),
        other => (other.as_str(), wl.name.as_str()),
    }
}

fn restarts(pod: &Pod, container: usize, t: Time) -> f64 {
    if pod.crash_looping && container == 0 {
        3.0 + (t.elapsed() / CRASH_LOOP_SECONDS).floor()
    } else {
        0.0
    }
}

fn kube_state_metrics(w: &mut Writer, cluster: &Cluster, t: Time) {
    w.family(
        "kube_node_info",
        "gauge",
        "Information about a cluster node.",
    );
    for node in &cluster.nodes {
        w.sample("kube_node_info", &[("node", &node.name)], 1.0);
    }
    w.family(
        "kube_node_status_capacity",
        "gauge",
        "The capacity for different resources of a node.",
    );
    for node in &cluster.nodes {
        w.sample(
            "kube_node_status_capacity",
            &[("node", &node.name), ("resource", "cpu"), ("unit", "core")],
            node.cpu_cores as f64,
        );
        w.sample(
            "kube_node_status_capacity",
            &[
                ("node", &node.name),
                ("resource", "memory"),
                ("unit", "byte"),
            ],
            node.memory_bytes as f64,
        );
    }
    w.family(
        "kube_node_status_allocatable",
        "gauge",
        "The allocatable for different resources of a node that are available for scheduling.",
    );
    for node in &cluster.nodes {
        // The kubelet reserves a tenth of a core and 512 MiB.
        for (resource, unit, value) in [
            ("cpu", "core", node.cpu_cores as f64 - 0.1),
            ("memory", "byte", node.memory_bytes as f64 - 512.0 * MIB),
            ("pods", "integer", MAX_PODS_PER_NODE),
        ] {
            w.sample(
                "kube_node_status_allocatable",
                &[("node", &node.name), ("resource", resource), ("unit", unit)],
                value,
            );
        }
    }
    w.family(
        "kube_node_status_condition",
        "gauge",
        "The condition of a cluster node.",
    );
    for node in &cluster.nodes {
        w.sample(
            "kube_node_status_condition",
            &[
                ("condition", "Ready"),
                ("node", &node.name),
                ("status", "true"),
            ],
            1.0,
        );
    }
    w.family(
        "kube_namespace_labels",
        "gauge",
        "Kubernetes labels converted to Prometheus labels.",
    );
    for (ns, workspace) in &cluster.namespaces {
        match workspace {
            Some(ws) => w.sample(
                "kube_namespace_labels",
                &[("label_kubesphere_io_workspace", ws), ("namespace", ns)],
                1.0,
            ),
            None => w.sample("kube_namespace_labels", &[("namespace", ns)], 1.0),
        }
    }
    w.family("kube_pod_info", "gauge", "Information about pod.");
    for pod in &cluster.pods {
        let (kind, owner) = owner(cluster, pod);
        let labels = [
            ("created_by_kind", kind),
            ("created_by_name", owner),
            ("namespace", &pod.namespace),
            ("node", &cluster.nodes[pod.node].name),
            ("pod", &pod.name),
        ];
        w.sample("kube_pod_info", &labels, 1.0);
    }
    w.family(
        "kube_pod_owner",
        "gauge",
        "Information about the Pod's owner.",
    );
    for pod in &cluster.pods {
        let (kind, owner) = owner(cluster, pod);
        let labels = [
            ("namespace", pod.namespace.as_str()),
            ("owner_is_controller", "true"),
            ("owner_kind", kind),
            ("owner_name", owner),
            ("pod", &pod.name),
        ];
        w.sample("kube_pod_owner", &labels, 1.0);
    }
    w.family(
        "kube_replicaset_owner",
        "gauge",
        "Information about the ReplicaSet's owner.",
    );
    for wl in cluster
        .workloads
        .iter()
        .filter(|w| w.kind == WorkloadKind::Deployment)
    {
        let rs = wl.replicaset.as_deref().unwrap_or(&wl.name);
        let labels = [
            ("namespace", wl.namespace.as_str()),
            ("owner_is_controller", "true"),
            ("owner_kind", "Deployment"),
            ("owner_name", &wl.name),
            ("replicaset", rs),
        ];
        w.sample("kube_replicaset_owner", &labels, 1.0);
    }
    let ready_pods = |index: usize| {
        cluster
            .pods
            .iter()
            .filter(|p| p.workload == index && !p.crash_looping)
            .count() as f64
    };
    for (kind, spec, ready, label) in [
        (
            WorkloadKind::Deployment,
            "kube_deployment_spec_replicas",
            "kube_deployment_status_replicas_available",
            "deployment",
        ),
        (
            WorkloadKind::StatefulSet,
            "kube_statefulset_replicas",
            "kube_statefulset_status_replicas_ready",
            "statefulset",
        ),
        (
            WorkloadKind::DaemonSet,
            "kube_daemonset_status_desired_number_scheduled",
            "kube_daemonset_status_number_ready",
            "daemonset",
        ),
    ] {
        w.family(
            spec,
            "gauge",
            &format!("Desired number of pods of a {label}."),
        );
        for wl in cluster.workloads.iter().filter(|w| w.kind == kind) {
            w.sample(
                spec,
                &[(label, &wl.name), ("namespace", &wl.namespace)],
                wl.replicas as f64,
            );
        }
        w.family(ready, "gauge", &format!("Ready pods of a {label}."));
        for (i, wl) in cluster
            .workloads
            .iter()
            .enumerate()
            .filter(|(_, w)| w.kind == kind)
        {
            w.sample(
                ready,
                &[(label, &wl.name), ("namespace", &wl.namespace)],
                ready_pods(i),
            );
        }
    }
    w.family("kube_pod_status_phase", "gauge", "The pods current phase.");
    for pod in &cluster.pods {
        for phase in ["Failed", "Pending", "Running", "Succeeded", "Unknown"] {
            let value = if phase == "Running" { 1.0 } else { 0.0 };
            w.sample(
                "kube_pod_status_phase",
                &[
                    ("namespace", &pod.namespace),
                    ("phase", phase),
                    ("pod", &pod.name),
                ],
                value,
            );
        }
    }
    w.family(
        "kube_pod_status_ready",
        "gauge",
        "Describes whether the pod is ready to serve requests.",
    );
    for pod in &cluster.pods {
        for (condition, ready) in [("false", pod.crash_looping), ("true", !pod.crash_looping)] {
            w.sample(
                "kube_pod_status_ready",
                &[
                    ("condition", condition),
                    ("namespace", &pod.namespace),
                    ("pod", &pod.name),
                ],
                f64::from(u8::from(ready)),
            );
        }
    }
    w.family(
        "kube_pod_container_status_restarts_total",
        "counter",
        "The number of container restarts per container.",
    );
    for pod in &cluster.pods {
        for (i, c) in pod.containers.iter().enumerate() {
            w.sample(
                "kube_pod_container_status_restarts_total",
                &[
                    ("container", &c.name),
                    ("namespace", &pod.namespace),
                    ("pod", &pod.name),
                ],
                restarts(pod, i, t),
            );
        }
    }
    w.family(
        "kube_pod_container_status_waiting_reason",
        "gauge",
        "Describes the reason the container is currently in waiting state.",
    );
    for pod in cluster.pods.iter().filter(|p| p.crash_looping) {
        let labels = [
            ("container", pod.containers[0].name.as_str()),
            ("namespace", &pod.namespace),
            ("pod", &pod.name),
            ("reason", "CrashLoopBackOff"),
        ];
        w.sample("kube_pod_container_status_waiting_reason", &labels, 1.0);
    }
    w.family(
        "kube_pod_container_info",
        "gauge",
        "Information about a container in a pod.",
    );
    for pod in &cluster.pods {
        for c in &pod.containers {
            let image = format!("registry.example.com/{}/{}:1.0", pod.namespace, c.name);
            let labels = [
                ("container", c.name.as_str()),
                ("image", &image),
                ("namespace", &pod.namespace),
                ("pod", &pod.name),
            ];
            w.sample("kube_pod_container_info", &labels, 1.0);
        }
    }
    namespaced_objects(w, cluster);
    for (family, help, pick) in [
        (
            "kube_pod_container_resource_requests",
            "The number of requested resource by a container.",
            0,
        ),
        (
            "kube_pod_container_resource_limits",
            "The number of limited resource by a container.",
            1,
        ),
    ] {
        w.family(family, "gauge", help);
        for pod in &cluster.pods {
            let node = &cluster.nodes[pod.node].name;
            for c in &pod.containers {
                let (cpu, memory) = if pick == 0 {
                    (c.cpu_request, c.memory_request)
                } else {
                    (c.cpu_limit, c.memory_limit)
                };
                let base = [
                    ("container", c.name.as_str()),
                    ("namespace", &pod.namespace),
                    ("node", node),
                    ("pod", &pod.name),
                ];
                w.sample(
                    family,
                    &[
                        base[0],
                        base[1],
                        base[2],
                        base[3],
                        ("resource", "cpu"),
                        ("unit", "core"),
                    ],
                    cpu,
                );
                w.sample(
                    family,
                    &[
                        base[0],
                        base[1],
                        base[2],
                        base[3],
                        ("resource", "memory"),
                        ("unit", "byte"),
                    ],
                    memory as f64,
                );
            }
        }
    }
}
