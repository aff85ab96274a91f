//! The JSON output of `--format json`: one object per command, whose `schema` field names its
//! shape and version. Fields are only ever added within a version.
//!
//! `byteor.validate/1`:
//! ```text
//! { "schema": "byteor.validate/1", "file": "plan.toml", "valid": true,
//!   "pipeline": "orders", "target": "single_ring", "fingerprint": "1f2e...",
//!   "violations": [] }
//! ```
//! (`pipeline` and `target` are `null` when the file does not parse; `fingerprint` is `null`
//! when it is invalid; each violation is a string naming what it is about.)
//!
//! `byteor.describe/1`:
//! ```text
//! { "schema": "byteor.describe/1", "pipeline": "orders", "target": "single_ring",
//!   "fingerprint": "1f2e...",
//!   "stages": [ { "name": "parse", "kind": "parse", "side_effects": false } ],
//!   "single_ring": { "ingress": "in", "egress": "out", "capacity": 1024, "shards": 1,
//!                    "ordering": "strict", "shard_key": null,
//!                    "stages": [ { "name": "risk", "after": ["parse"], "final": true } ] },
//!   "lane_graph": null }
//! ```
//! or, for a LaneGraph, `"single_ring": null` and
//! ```text
//! "lane_graph": { "on_full": "block",
//!   "lanes": [ { "name": "in->parse", "kind": "events", "capacity": 1024, "gating": null,
//!                "on_full": "block", "writer": "in", "readers": ["parse"] } ],
//!   "roles": [ { "name": "router.parse", "kind": "router", "inserted": true,
//!                "inputs": ["parse->router.parse"], "outputs": ["..."] } ],
//!   "endpoints": [ { "name": "in", "direction": "ingress", "lane": "in->parse" } ] }
//! ```
//!
//! `byteor.fingerprint/1`: `{ "schema": "byteor.fingerprint/1", "pipeline": "orders",
//! "fingerprint": "1f2e..." }`.
//!
//! `byteor.run/1` (`run --format json`):
//! ```text
//! { "schema": "byteor.run/1", "pipeline": "orders", "target": "single_ring",
//!   "fingerprint": "1f2e...", "complete": true, "published": 1000000,
//!   "elapsed_secs": 0.41, "events_per_sec": 2.4e6,
//!   "stages": [ { "name": "parse", "processed": 1000000, "expected": 1000000 } ],
//!   "lanes": [ { "name": "in->parse", "published": 10, "written": 10, "dropped": 0,
//!                "delivered": [10], "lost": [0], "adds_up": true } ],
//!   "egress": [ { "name": "out", "received": 10 } ],
//!   "latency": [ { "stage": "latency", "count": 10, "p50_ns": 1023, "p99_ns": 4095,
//!                  "p999_ns": 4095, "max_ns": 3100 } ],
//!   "failure": null,
//!   "tuning": { "profile": "low-latency",
//!               "settings": [ { "name": "mlockall", "requested": "MCL_CURRENT | MCL_FUTURE",
//!                               "status": "degraded",
//!                               "detail": "Cannot allocate memory (os error 12), RLIMIT_MEMLOCK 8192 KiB" } ] } }
//! ```
//! (`expected` is `null` for LaneGraph roles, whose lanes carry the counts; `lanes` and
//! `egress` are empty for a SingleRing; latency quantiles are upper bounds, within a factor of
//! two.)
//!
//! `run`'s report also carries `"policy": { "env": "prod", "side_effecting": ["audit"],
//! "approved": [ { "stage": "audit", "approver": "alice", "expires_unix": 1798761599,
//! "reason": null } ] }`.
//!
//! `byteor.replay/1` (`replay --format json`):
//! ```text
//! { "schema": "byteor.replay/1", "dry_run": true, "matches": true,
//!   "withheld": [ { "stage": "audit", "kind": "count", "would_receive": 1000 } ],
//!   "diffs": [ { "egress": "decisions_out", "captured": 3000, "replayed": 3000,
//!                "equal": true, "first_difference": null } ],
//!   "run": { ...byteor.run/1... } }
//! ```
//!
//! `byteor.supervise/1` (`run --mp --format json`):
//! ```text
//! { "schema": "byteor.supervise/1", "pipeline": "orders", "complete": false,
//!   "culprit": { "role": "risk", "pid": 4242, "how": "was killed by signal 9 (SIGKILL)" },
//!   "roles": [ { "role": "parse", "pid": 4241, "success": false, "status": "exited with code 1" } ],
//!   "regions_removed": [ "/dev/shm/byteor/orders.0" ] }
//! ```
//!
//! `byteor.snapshot/1`:
//! ```text
//! { "schema": "byteor.snapshot/1", "dir": "/dev/shm/byteor",
//!   "regions": [ { "path": "/dev/shm/byteor/orders.0", "pipeline": "orders", "shard": 0,
//!     "abi_version": 1, "spec_fingerprint": "1f2e...", "event": "BuiltinEvent",
//!     "event_bytes": 32, "capacity": 1024, "health": "alive",
//!     "producer": { "pid": 4240, "health": "alive", "heartbeat_age_ms": 0.4, "death": null,
//!                   "status": "running" },
//!     "stream": "running", "published": 123456,
//!     "policy": "policy: environment dev; no side-effecting stage",
//!     "stages": [ { "name": "parse", "sequence": 123450, "lag": 6, "peer": { ... } } ] } ],
//!   "unreadable": [ { "path": "/dev/shm/byteor/junk", "error": "..." } ] }
//! ```
//! (`health` is `alive`, `stale` or `dead`, and `null` for a stage place no process took;
//! `policy` is the decision the producer started under, `null` if it recorded none.)

use byteor::spec::{LaneEnd, LaneGraphSpec, PipelineSpecV1, SingleRingSpec, TopologySpec};
use byteor::vocab::RoleKind;
use serde_json::{json, Value};

/// The `schema` of `validate`'s output.
pub const VALIDATE_SCHEMA: &str = "byteor.validate/1";
/// The `schema` of `describe`'s output.
pub const DESCRIBE_SCHEMA: &str = "byteor.describe/1";
/// The `schema` of `run`'s report.
pub const RUN_SCHEMA: &str = "byteor.run/1";
/// The `schema` of `run --mp`'s report.
pub const SUPERVISE_SCHEMA: &str = "byteor.supervise/1";
/// The `schema` of `replay --format json`'s report.
pub const REPLAY_SCHEMA: &str = "byteor.replay/1";
/// The `schema` of `snapshot`'s output.
pub const SNAPSHOT_SCHEMA: &str = "byteor.snapshot/1";
/// The `schema` of `fingerprint`'s output.
pub const FINGERPRINT_SCHEMA: &str = "byteor.fingerprint/1";

/// `describe`'s object for `spec`.
pub fn describe(spec: &PipelineSpecV1) -> Value {
    let stages: Vec<Value> = spec
        .stages
        .iter()
        .map(|s| json!({ "name": s.name, "kind": s.kind, "side_effects": s.side_effects }))
        .collect();
    let (single_ring, lane_graph) = match &spec.topology {
        TopologySpec::SingleRing(ring) => (single_ring(spec, ring), Value::Null),
        TopologySpec::LaneGraph(graph) => (Value::Null, lane_graph(graph)),
    };
    json!({
        "schema": DESCRIBE_SCHEMA,
        "pipeline": spec.name,
        "target": spec.target().as_str(),
        "fingerprint": spec.fingerprint().to_string(),
        "stages": stages,
        "single_ring": single_ring,
        "lane_graph": lane_graph,
    })
}

fn single_ring(spec: &PipelineSpecV1, ring: &SingleRingSpec) -> Value {
    let name = |i: usize| spec.stages.get(i).map_or("?", |s| s.name.as_str());
    let stages: Vec<Value> = (0..spec.stages.len())
        .map(|i| {
            let deps = ring.deps.get(i).copied().unwrap_or(0);
            let after: Vec<&str> = (0..spec.stages.len())
                .filter(|&j| deps & (1 << j) != 0)
                .map(name)
                .collect();
            json!({
                "name": name(i),
                "after": after,
                "final": ring.final_mask & (1 << i) != 0,
            })
        })
        .collect();
    json!({
        "ingress": ring.ingress,
        "egress": ring.egress,
        "capacity": ring.capacity,
        "shards": ring.shards,
        "ordering": ring.ordering.as_str(),
        "shard_key": ring.shard_key,
        "stages": stages,
    })
}

fn lane_graph(graph: &LaneGraphSpec) -> Value {
    let end = |e: &LaneEnd| match e {
        LaneEnd::Role(r) => graph.roles.get(*r as usize).map(|r| r.name.clone()),
        LaneEnd::Endpoint(p) => graph.endpoints.get(*p as usize).map(|p| p.name.clone()),
    };
    let lane = |id: &u32| graph.lanes.get(*id as usize).map(|l| l.name.clone());
    let lanes: Vec<Value> = graph
        .lanes
        .iter()
        .map(|l| {
            json!({
                "name": l.name,
                "kind": l.kind.as_str(),
                "capacity": l.capacity,
                "gating": l.gating,
                "on_full": l.on_full.as_str(),
                "writer": end(&l.writer),
                "readers": l.readers.iter().map(end).collect::<Vec<_>>(),
            })
        })
        .collect();
    let roles: Vec<Value> = graph
        .roles
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "kind": r.kind.as_str(),
                "inserted": r.kind != RoleKind::Stage,
                "inputs": r.inputs.iter().map(lane).collect::<Vec<_>>(),
                "outputs": r.outputs.iter().map(lane).collect::<Vec<_>>(),
            })
        })
        .collect();
    let endpoints: Vec<Value> = graph
        .endpoints
        .iter()
        .map(
            |e| json!({ "name": e.name, "direction": e.direction.as_str(), "lane": lane(&e.lane) }),
        )
        .collect();
    json!({
        "on_full": graph.on_full.as_str(),
        "lanes": lanes,
        "roles": roles,
        "endpoints": endpoints,
    })
}
