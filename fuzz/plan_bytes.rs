//! The byte format of the structure-aware `plan_pipeline` target: [`decode`] turns any byte
//! string into a [`PipelinePlanV2`], [`encode`] writes a plan back as bytes that decode to it.
//!
//! The format is defined here, in plain Rust with no dependency, so that the cargo-fuzz target
//! and the stable CI replay test (`byteor/tests/fuzz_corpus.rs`) decode a corpus file to the
//! same plan, byte for byte. Every read past the end of the input reads zero, so every input
//! decodes, and short inputs give small plans.
//!
//! Sizes are bounded so that one input costs bounded time and memory: at most 4 boundaries of
//! each side, 8 stages, 6 dependencies per stage, 24 connections, names of at most
//! [`MAX_NAME_BYTES`], parameters nested at most [`MAX_PARAM_DEPTH`] deep, containers of up to
//! 4 items at depth 1 and 2 and of at most 1 item deeper, and [`VALUE_BUDGET`] parameter value
//! nodes per plan: when a plan's parameters hold more, the params of the stage that crosses
//! the budget and of every later stage are left empty. These bounds depend on a plan's
//! content only, never on the order of table keys in the input, so that [`encode`] can write
//! any plan within them. Capacities and shard counts are any `u32`.
//!
//! # Layout
//!
//! ```text
//! plan       = flags:u8 name ingress egress stages [single_ring] [lane_graph]
//!              flags bit 0: target lane_graph (else single_ring)
//!                    bit 1: single_ring payload present; bit 2: lane_graph payload present
//!                    bit 3: wired connections (see `connection`)
//! ingress    = count:u8 (mod 5) name*          egress likewise
//! stages     = count:u8 (mod 9) stage*
//! stage      = name option(name) side_effects:u8 (bit 0) params after
//! params     = count:u8 (mod 5) (name value)*
//! after      = count:u8 (mod 7) name*
//! single_ring= u32 (capacity) u32 (shards) ordering:u8 producer:u8 scheduling:u8 (bit 0 each)
//!              option(name) (shard_key)
//! lane_graph = on_full3 boundary_kind:u8 (mod 4) option(u32) on_full3
//!              count:u8 (mod 25) connection*
//! connection = from to kind:u8 (mod 4) option(u32) gating on_full3
//!              from, to: a name each; wired, a u8 each instead, indexing (mod length) the
//!              sources (ingresses, then stages) and the destinations (stages, then
//!              egresses), an empty name when there are none
//! gating     = u8 (mod 3): 0 none, 1 SEQUENCED_SLOTS_V1_GATING, 2 name
//! on_full3   = u8 (mod 3): 0 none, 1 block, 2 drop
//! option(x)  = u8: odd = present, followed by x
//! name       = t:u8: t < 0x40        POOL[t mod POOL.len()]
//!                    0x40 ..= 0x7f   "s0" ..= "s7" (t & 7)
//!                    0x80 ..= 0xfe   t - 0x80 bytes of text (lossy UTF-8)
//!                    0xff            u16 LE length (capped at MAX_NAME_BYTES), then text
//! u32        = t:u8: t < 32 2^t; 32..=63 t - 32; 64..=71 SPECIAL_U32; else 4 bytes LE
//! value      = t:u8 (mod 10): 0 false, 1 true, 2 i64 LE, 3 i8 as i64, 4 f64 bits LE,
//!              5 string (name), 6 array count value*, 7 table count (name value)*,
//!              8 deep: levels:u8 style:u8 (mod 3: arrays, tables keyed `k`, alternating)
//!              value, 9 SPECIAL_F64[u8 mod 8]; a container (6, 7, 8) at MAX_PARAM_DEPTH
//!              is `false`; count is u8 mod 5 at depth 1 and 2, u8 mod 2 deeper
//! ```
#![allow(dead_code)]

use std::collections::BTreeMap;

use byteor::plan::{
    BoundaryDecl, BoundaryLanePolicy, Connection, ExecutionTargetV1, LaneGraphPlan, LaneIntent,
    LaneKind, OnFull, OrderingMode, ParamValue, PipelinePlanV2, ProducerMode, SchedulingMode,
    SingleRingConstraints, StageDecl,
};

/// Longest name the decoder produces, in bytes of input text.
pub const MAX_NAME_BYTES: usize = 4096;
/// Parameter value nodes per plan (a scalar is one node, each array or table level one more).
pub const VALUE_BUDGET: usize = 2000;
/// Deepest parameter nesting the decoder produces (a scalar has depth 1): beyond every limit
/// a reader has (TOML's, kv's 128, `PARAM_V1_MAX_DEPTH`).
pub const MAX_PARAM_DEPTH: usize = 160;

const MAX_BOUNDARIES: u8 = 4;
const MAX_STAGES: u8 = 8;
const MAX_AFTER: u8 = 6;
const MAX_ITEMS: u8 = 4;
const MAX_CONNECTIONS: u8 = 24;

/// Names picked by one byte: plain names that collide often (so dependencies and connections
/// hit declared names), names that look like the ones lowering generates, and names with
/// characters every text format has to escape.
pub const POOL: &[&str] = &[
    "in",
    "out",
    "a",
    "b",
    "c",
    "d",
    "parse",
    "risk",
    "",
    " ",
    " lead",
    "trail ",
    "a b",
    "x=y",
    "q\"uote",
    "back\\slash",
    "new\nline",
    "cr\rlf",
    "tab\t",
    "nul\0",
    "bell\u{7}",
    "del\u{7f}",
    "é",
    "ünïcödé",
    "🦀",
    "\u{feff}bom",
    "#hash",
    "[x]",
    "{y}",
    "a.b",
    "'single'",
    "\\u{3d}",
    "router.a",
    "merge.b",
    "bridge.a.b",
    "all_readers",
    "single_ring",
    "lane_graph",
    "version",
    "byteor.spec",
];

/// `u32` values picked by one byte: limits and their neighbours.
pub const SPECIAL_U32: [u32; 8] = [
    u32::MAX,
    1 << 31,
    1 << 24,
    (1 << 24) + 1,
    1 << 25,
    3,
    1000,
    100,
];

/// `f64` values picked by one byte, NaNs and signed zero included.
pub const SPECIAL_F64: [f64; 8] = [
    f64::NAN,
    -f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.1,
    1e300,
    5e-324,
];

/// Most items of an array or table at `depth` (the container's own depth).
fn max_items(depth: usize) -> u8 {
    if depth <= 2 {
        MAX_ITEMS
    } else {
        1
    }
}

/// Value nodes of a parameter value.
fn nodes(value: &ParamValue) -> usize {
    match value {
        ParamValue::Array(items) => 1 + items.iter().map(nodes).sum::<usize>(),
        ParamValue::Table(table) => 1 + table.values().map(nodes).sum::<usize>(),
        _ => 1,
    }
}

fn stage_nodes(stage: &StageDecl) -> usize {
    stage.params.values().map(nodes).sum()
}

/// A cursor over the input; reads past the end give zeros.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.u8();
        }
        out
    }

    fn count(&mut self, max: u8) -> usize {
        usize::from(self.u8() % (max + 1))
    }

    fn flag(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    fn name(&mut self) -> String {
        let t = self.u8();
        match t {
            0x00..=0x3f => POOL[usize::from(t) % POOL.len()].to_owned(),
            0x40..=0x7f => format!("s{}", t & 7),
            0x80..=0xfe => self.text(usize::from(t - 0x80)),
            0xff => {
                let len = usize::from(u16::from_le_bytes(self.array()));
                self.text(len.min(MAX_NAME_BYTES))
            }
        }
    }

    fn text(&mut self, len: usize) -> String {
        String::from_utf8_lossy(self.bytes(len)).into_owned()
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> T) -> Option<T> {
        self.flag().then(|| read(self))
    }

    fn u32(&mut self) -> u32 {
        let t = self.u8();
        match t {
            0..=31 => 1u32 << t,
            32..=63 => u32::from(t - 32),
            64..=71 => SPECIAL_U32[usize::from(t - 64)],
            _ => u32::from_le_bytes(self.array()),
        }
    }

    fn on_full3(&mut self) -> Option<OnFull> {
        match self.u8() % 3 {
            0 => None,
            1 => Some(OnFull::Block),
            _ => Some(OnFull::Drop),
        }
    }

    fn lane_kind(&mut self) -> LaneKind {
        LaneKind::ALL[usize::from(self.u8() % 4)]
    }

    fn value(&mut self, depth: usize) -> ParamValue {
        let t = self.u8() % 10;
        // At the deepest level, containers become `false` (their tag still read).
        let room = depth < MAX_PARAM_DEPTH;
        match t {
            0 => ParamValue::Bool(false),
            1 => ParamValue::Bool(true),
            2 => ParamValue::Int(i64::from_le_bytes(self.array())),
            3 => ParamValue::Int(i64::from(self.u8() as i8)),
            4 => ParamValue::Float(f64::from_bits(u64::from_le_bytes(self.array()))),
            5 => ParamValue::Str(self.name()),
            6 if room => {
                let n = self.count(max_items(depth));
                ParamValue::Array((0..n).map(|_| self.value(depth + 1)).collect())
            }
            7 if room => {
                let n = self.count(max_items(depth));
                ParamValue::Table(self.table(n, depth + 1))
            }
            8 if room => {
                let levels = usize::from(self.u8()).min(MAX_PARAM_DEPTH - depth);
                let style = self.u8() % 3;
                let mut value = self.value(depth + levels);
                for level in 0..levels {
                    let as_table = style == 1 || (style == 2 && level % 2 == 1);
                    value = if as_table {
                        ParamValue::Table(BTreeMap::from([("k".to_owned(), value)]))
                    } else {
                        ParamValue::Array(vec![value])
                    };
                }
                value
            }
            9 => ParamValue::Float(SPECIAL_F64[usize::from(self.u8() % 8)]),
            _ => ParamValue::Bool(false),
        }
    }

    fn table(&mut self, n: usize, depth: usize) -> BTreeMap<String, ParamValue> {
        let mut table = BTreeMap::new();
        for _ in 0..n {
            let key = self.name();
            let value = self.value(depth);
            table.insert(key, value);
        }
        table
    }

    fn stage(&mut self) -> StageDecl {
        let name = self.name();
        let kind = self.option(Self::name);
        let side_effects = self.flag();
        let n = self.count(MAX_ITEMS);
        let params = self.table(n, 1);
        let n = self.count(MAX_AFTER);
        let after = (0..n).map(|_| self.name()).collect();
        StageDecl {
            name,
            kind,
            side_effects,
            params,
            after,
        }
    }

    fn boundaries(&mut self) -> Vec<BoundaryDecl> {
        let n = self.count(MAX_BOUNDARIES);
        (0..n).map(|_| BoundaryDecl::new(self.name())).collect()
    }

    fn single_ring(&mut self) -> SingleRingConstraints {
        SingleRingConstraints {
            capacity: self.u32(),
            shards: self.u32(),
            ordering: if self.flag() {
                OrderingMode::PerKey
            } else {
                OrderingMode::Strict
            },
            producer: if self.flag() {
                ProducerMode::Multi
            } else {
                ProducerMode::Single
            },
            scheduling: if self.flag() {
                SchedulingMode::WorkQueue
            } else {
                SchedulingMode::Dedicated
            },
            shard_key: self.option(Self::name),
        }
    }

    /// An endpoint of a connection: a name, or with `wired` one of `names` by index.
    fn endpoint(&mut self, wired: bool, names: &[String]) -> String {
        if !wired {
            return self.name();
        }
        let i = usize::from(self.u8());
        if names.is_empty() {
            String::new()
        } else {
            names[i % names.len()].clone()
        }
    }

    fn lane_graph(&mut self, wired: bool, sources: &[String], sinks: &[String]) -> LaneGraphPlan {
        let on_full = self.on_full3();
        let boundary = BoundaryLanePolicy {
            kind: self.lane_kind(),
            capacity: self.option(Self::u32),
            on_full: self.on_full3(),
        };
        let n = self.count(MAX_CONNECTIONS);
        let connections = (0..n)
            .map(|_| Connection {
                from: self.endpoint(wired, sources),
                to: self.endpoint(wired, sinks),
                lane: LaneIntent {
                    kind: self.lane_kind(),
                    capacity: self.option(Self::u32),
                    gating: match self.u8() % 3 {
                        0 => None,
                        1 => Some(byteor::SEQUENCED_SLOTS_V1_GATING.to_owned()),
                        _ => Some(self.name()),
                    },
                    on_full: self.on_full3(),
                },
            })
            .collect();
        LaneGraphPlan {
            on_full,
            boundary,
            connections,
        }
    }
}

/// The plan `bytes` describe (see the module docs). Total: every byte string decodes.
pub fn decode(bytes: &[u8]) -> PipelinePlanV2 {
    let mut input = Input {
        data: bytes,
        pos: 0,
    };
    let flags = input.u8();
    let name = input.name();
    let ingress = input.boundaries();
    let egress = input.boundaries();
    let n = input.count(MAX_STAGES);
    let mut stages: Vec<StageDecl> = (0..n).map(|_| input.stage()).collect();
    let mut total = 0;
    for stage in &mut stages {
        total += stage_nodes(stage);
        if total > VALUE_BUDGET {
            stage.params.clear();
        }
    }
    let single_ring = (flags & 2 != 0).then(|| input.single_ring());
    let lane_graph = (flags & 4 != 0).then(|| {
        let (sources, sinks) = endpoints(&ingress, &stages, &egress);
        input.lane_graph(flags & 8 != 0, &sources, &sinks)
    });
    PipelinePlanV2 {
        name,
        target: if flags & 1 != 0 {
            ExecutionTargetV1::LaneGraph
        } else {
            ExecutionTargetV1::SingleRing
        },
        ingress,
        egress,
        stages,
        single_ring,
        lane_graph,
    }
}

/// The names connections may start at (ingresses, then stages) and end at (stages, then
/// egresses), in the order wired connections index them.
fn endpoints(
    ingress: &[BoundaryDecl],
    stages: &[StageDecl],
    egress: &[BoundaryDecl],
) -> (Vec<String>, Vec<String>) {
    let stage_names = stages.iter().map(|s| s.name.clone());
    let sources = ingress
        .iter()
        .map(|b| b.name.clone())
        .chain(stage_names.clone())
        .collect();
    let sinks = stage_names
        .chain(egress.iter().map(|b| b.name.clone()))
        .collect();
    (sources, sinks)
}

/// Why a plan has no byte form: it is bigger than the decoder's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooBig(pub &'static str);

/// Bytes that [`decode`] reads back as `plan`, when the plan is within the decoder's bounds.
pub fn encode(plan: &PipelinePlanV2) -> Result<Vec<u8>, TooBig> {
    if plan.stages.iter().map(stage_nodes).sum::<usize>() > VALUE_BUDGET {
        return Err(TooBig("parameter values"));
    }
    let mut out = Output { bytes: Vec::new() };
    // Wired when every connection joins declared names (then each is written as the index of
    // the first name that matches, which reads back as the same name).
    let (sources, sinks) = endpoints(&plan.ingress, &plan.stages, &plan.egress);
    let index = |names: &[String], name: &str| names.iter().position(|n| n == name);
    let wired = plan.lane_graph.as_ref().is_some_and(|g| {
        g.connections.iter().all(|c| {
            index(&sources, &c.from).is_some_and(|i| i < 256)
                && index(&sinks, &c.to).is_some_and(|i| i < 256)
        })
    });
    let flags = u8::from(plan.target == ExecutionTargetV1::LaneGraph)
        | u8::from(plan.single_ring.is_some()) << 1
        | u8::from(plan.lane_graph.is_some()) << 2
        | u8::from(wired) << 3;
    out.bytes.push(flags);
    out.name(&plan.name)?;
    for list in [&plan.ingress, &plan.egress] {
        out.count(list.len(), MAX_BOUNDARIES, "boundaries")?;
        for b in list {
            out.name(&b.name)?;
        }
    }
    out.count(plan.stages.len(), MAX_STAGES, "stages")?;
    for s in &plan.stages {
        out.name(&s.name)?;
        out.option(s.kind.as_deref(), |out, k| out.name(k))?;
        out.bytes.push(u8::from(s.side_effects));
        out.table(&s.params, 1, MAX_ITEMS)?;
        out.count(s.after.len(), MAX_AFTER, "after")?;
        for a in &s.after {
            out.name(a)?;
        }
    }
    if let Some(r) = &plan.single_ring {
        out.u32(r.capacity);
        out.u32(r.shards);
        out.bytes.push(u8::from(r.ordering == OrderingMode::PerKey));
        out.bytes.push(u8::from(r.producer == ProducerMode::Multi));
        out.bytes
            .push(u8::from(r.scheduling == SchedulingMode::WorkQueue));
        out.option(r.shard_key.as_deref(), |out, k| out.name(k))?;
    }
    if let Some(g) = &plan.lane_graph {
        out.on_full3(g.on_full);
        out.lane_kind(g.boundary.kind);
        out.option(g.boundary.capacity, |out, c| {
            out.u32(c);
            Ok(())
        })?;
        out.on_full3(g.boundary.on_full);
        out.count(g.connections.len(), MAX_CONNECTIONS, "connections")?;
        for c in &g.connections {
            match (index(&sources, &c.from), index(&sinks, &c.to)) {
                (Some(from), Some(to)) if wired => {
                    out.bytes.push(from as u8);
                    out.bytes.push(to as u8);
                }
                _ => {
                    out.name(&c.from)?;
                    out.name(&c.to)?;
                }
            }
            out.lane_kind(c.lane.kind);
            out.option(c.lane.capacity, |out, cap| {
                out.u32(cap);
                Ok(())
            })?;
            match c.lane.gating.as_deref() {
                None => out.bytes.push(0),
                Some(g) if g == byteor::SEQUENCED_SLOTS_V1_GATING => out.bytes.push(1),
                Some(g) => {
                    out.bytes.push(2);
                    out.name(g)?;
                }
            }
            out.on_full3(c.lane.on_full);
        }
    }
    Ok(out.bytes)
}

struct Output {
    bytes: Vec<u8>,
}

impl Output {
    fn count(&mut self, n: usize, max: u8, what: &'static str) -> Result<(), TooBig> {
        let n = u8::try_from(n)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(TooBig(what))?;
        self.bytes.push(n);
        Ok(())
    }

    fn name(&mut self, name: &str) -> Result<(), TooBig> {
        if let Some(i) = POOL.iter().position(|p| *p == name) {
            self.bytes.push(i as u8);
            return Ok(());
        }
        if let Some(n) = name
            .strip_prefix('s')
            .and_then(|d| d.parse::<u8>().ok())
            .filter(|&d| d < 8 && name.len() == 2)
        {
            self.bytes.push(0x40 | n);
            return Ok(());
        }
        let len = name.len();
        if len <= 0x7e {
            self.bytes.push(0x80 + len as u8);
        } else if len <= MAX_NAME_BYTES {
            self.bytes.push(0xff);
            self.bytes.extend_from_slice(&(len as u16).to_le_bytes());
        } else {
            return Err(TooBig("name"));
        }
        self.bytes.extend_from_slice(name.as_bytes());
        Ok(())
    }

    fn option<T>(
        &mut self,
        value: Option<T>,
        write: impl FnOnce(&mut Self, T) -> Result<(), TooBig>,
    ) -> Result<(), TooBig> {
        match value {
            None => {
                self.bytes.push(0);
                Ok(())
            }
            Some(v) => {
                self.bytes.push(1);
                write(self, v)
            }
        }
    }

    fn u32(&mut self, v: u32) {
        if v.is_power_of_two() {
            self.bytes.push(v.trailing_zeros() as u8);
        } else if v < 32 {
            self.bytes.push(32 + v as u8);
        } else {
            self.bytes.push(0xff);
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn on_full3(&mut self, on_full: Option<OnFull>) {
        self.bytes.push(match on_full {
            None => 0,
            Some(OnFull::Block) => 1,
            Some(OnFull::Drop) => 2,
        });
    }

    fn lane_kind(&mut self, kind: LaneKind) {
        let i = LaneKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.bytes.push(i as u8);
    }

    /// A table whose values sit at `depth`, holding at most `max` entries.
    fn table(
        &mut self,
        table: &BTreeMap<String, ParamValue>,
        depth: usize,
        max: u8,
    ) -> Result<(), TooBig> {
        self.count(table.len(), max, "table entries")?;
        for (k, v) in table {
            self.name(k)?;
            self.value(v, depth)?;
        }
        Ok(())
    }

    fn value(&mut self, value: &ParamValue, depth: usize) -> Result<(), TooBig> {
        let container = matches!(value, ParamValue::Array(_) | ParamValue::Table(_));
        if container && depth >= MAX_PARAM_DEPTH {
            return Err(TooBig("parameter nesting"));
        }
        match value {
            ParamValue::Bool(b) => self.bytes.push(u8::from(*b)),
            ParamValue::Int(i) => {
                self.bytes.push(2);
                self.bytes.extend_from_slice(&i.to_le_bytes());
            }
            ParamValue::Float(f) => {
                self.bytes.push(4);
                self.bytes.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            ParamValue::Str(s) => {
                self.bytes.push(5);
                self.name(s)?;
            }
            ParamValue::Array(items) => {
                self.bytes.push(6);
                self.count(items.len(), max_items(depth), "array items")?;
                for item in items {
                    self.value(item, depth + 1)?;
                }
            }
            ParamValue::Table(table) => {
                self.bytes.push(7);
                self.table(table, depth + 1, max_items(depth))?;
            }
        }
        Ok(())
    }
}
