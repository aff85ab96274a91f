//! What a region holds ([`RingDescriptor`]), how regions are made ([`ShmOptions`]), and the
//! places peers take ([`Peer`]).

use super::*;

/// The directory regions live in unless the caller names another.
pub const DEFAULT_SHM_DIR: &str = "/dev/shm/byteor";

/// What a ring region holds: its event layout, the spec it serves, its capacity and its
/// stages. The creator writes it into the header; an opener checks the header against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingDescriptor {
    pub(super) event: LayoutSummary,
    pub(super) field_count: u32,
    pub(super) spec_fingerprint: u64,
    pub(super) capacity: u64,
    pub(super) stages: Vec<String>,
    pub(super) deps: Vec<u32>,
    pub(super) geometry: RegionGeometry,
}

impl RingDescriptor {
    /// A ring of `capacity` slots of the event type `event` with the given stages, for the spec
    /// whose fingerprint is `spec_fingerprint`.
    ///
    /// The capacity is a power of two from 2 to
    /// [`RING_V1_MAX_CAPACITY`](crate::RING_V1_MAX_CAPACITY); there are 1 to
    /// [`SHM_V1_MAX_STAGES`] stages with distinct names of 1 to
    /// [`NAME_V1_MAX_BYTES`](crate::NAME_V1_MAX_BYTES) bytes; the slots take at most
    /// [`RING_V1_MAX_BYTES`](crate::RING_V1_MAX_BYTES); the event's alignment is at most 128.
    pub fn new(
        event: &EventLayout,
        spec_fingerprint: u64,
        capacity: u64,
        stages: &[impl AsRef<str>],
    ) -> Result<Self, ShmError> {
        let bad = |reason: String| Err(ShmError::BadDescriptor { reason });
        if capacity < 2
            || !capacity.is_power_of_two()
            || capacity > u64::from(crate::RING_V1_MAX_CAPACITY)
        {
            return bad(format!(
                "capacity {capacity} is not a power of two from 2 to {}",
                crate::RING_V1_MAX_CAPACITY
            ));
        }
        if stages.is_empty() || stages.len() > SHM_V1_MAX_STAGES {
            return bad(format!(
                "{} stages; a shared-memory ring has 1 to {SHM_V1_MAX_STAGES}",
                stages.len()
            ));
        }
        let stages: Vec<String> = stages.iter().map(|s| s.as_ref().to_owned()).collect();
        for (i, stage) in stages.iter().enumerate() {
            if stage.is_empty() || stage.len() > SHM_NAME_BYTES {
                return bad(format!(
                    "stage #{} name is {} bytes; names are 1 to {SHM_NAME_BYTES} bytes",
                    i + 1,
                    stage.len()
                ));
            }
            if stages[..i].contains(stage) {
                return bad(format!("stage `{stage}` is named twice"));
            }
        }
        if event.name.len() > SHM_NAME_BYTES {
            return bad(format!(
                "event type name `{}` is longer than {SHM_NAME_BYTES} bytes",
                event.name
            ));
        }
        if event.align > 128 || event.size == 0 {
            return bad(format!(
                "event type `{}` has size {} and alignment {}; a slot needs a size above 0 and \
                 an alignment of at most 128",
                event.name, event.size, event.align
            ));
        }
        let slot_bytes = event.size as u64;
        if capacity.saturating_mul(slot_bytes) > crate::RING_V1_MAX_BYTES {
            return bad(format!(
                "{capacity} slots of {slot_bytes} bytes are more than the {} bytes a ring may \
                 take",
                crate::RING_V1_MAX_BYTES
            ));
        }
        let geometry =
            RegionGeometry::new(capacity, slot_bytes, stages.len() as u64).ok_or_else(|| {
                ShmError::BadDescriptor {
                    reason: "the region size overflows".into(),
                }
            })?;
        Ok(RingDescriptor {
            event: summary(event),
            field_count: event.fields.len() as u32,
            spec_fingerprint,
            capacity,
            deps: vec![0; stages.len()],
            stages,
            geometry,
        })
    }

    /// Sets what each stage runs after: `deps[i]` has bit `j` set when stage `i` runs after
    /// stage `j` (`j < i`, as in a SingleRing spec); by default every stage reads straight
    /// after the producer. Stage processes (and the C client) wait on these.
    pub fn with_deps(mut self, deps: &[u32]) -> Result<Self, ShmError> {
        let ok = deps.len() == self.stages.len()
            && deps.iter().enumerate().all(|(i, &mask)| mask >> i == 0);
        if !ok {
            return Err(ShmError::BadDescriptor {
                reason: format!(
                    "dependencies {deps:?} for {} stages: one mask per stage, each naming only \
                     earlier stages",
                    self.stages.len()
                ),
            });
        }
        self.deps = deps.to_vec();
        Ok(self)
    }

    /// What each stage runs after (see [`with_deps`](Self::with_deps)).
    pub fn deps(&self) -> &[u32] {
        &self.deps
    }

    /// The event layout.
    pub fn event(&self) -> &LayoutSummary {
        &self.event
    }

    /// The spec fingerprint.
    pub fn spec_fingerprint(&self) -> u64 {
        self.spec_fingerprint
    }

    /// Slots.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Stage names, in stage order.
    pub fn stages(&self) -> &[String] {
        &self.stages
    }

    /// Where the sequences and slots lie, and the region's length.
    pub fn geometry(&self) -> RegionGeometry {
        self.geometry
    }
}

fn summary(event: &EventLayout) -> LayoutSummary {
    LayoutSummary {
        name: event.name.to_owned(),
        size: event.size as u64,
        align: event.align as u64,
        fingerprint: layout_fingerprint(event),
    }
}

/// How regions are created and opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmOptions {
    /// Permission bits of a created region file (default `0o600`: the creating user only).
    /// Applied exactly, whatever the process umask. A directory the creation makes gets
    /// `0o700` plus the execute bits matching the file's read bits.
    pub mode: u32,
    /// How long an opener waits for a creator still initialising (default 1 s).
    pub init_timeout: Duration,
}

impl Default for ShmOptions {
    fn default() -> Self {
        ShmOptions {
            mode: 0o600,
            init_timeout: Duration::from_secs(1),
        }
    }
}

/// Which place in a region a peer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The one producer.
    Producer,
    /// Stage `i` (in the region's stage order).
    Stage(usize),
}

impl Peer {
    /// Index into the header's peer table, which is also the locked byte of the file.
    pub(super) fn index(self) -> usize {
        match self {
            Peer::Producer => 0,
            Peer::Stage(i) => 1 + i,
        }
    }
}
