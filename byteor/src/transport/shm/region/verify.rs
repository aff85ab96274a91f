//! Waiting for a creator and checking a published header, field by field.

use super::*;

impl Region {
    /// Waits until the creator has published the region (version word non-zero), failing at
    /// once on a foreign magic and after `timeout` on a region still at version 0.
    pub(super) fn wait_ready(&self, timeout: Duration) -> Result<(), ShmError> {
        let identity = &self.header().identity;
        let start = Instant::now();
        loop {
            let magic = identity.magic.load(Ordering::Acquire).to_ne_bytes();
            if magic != [0; 8] && magic != REGION_MAGIC {
                return Err(ShmError::ForeignMagic {
                    path: self.path.clone(),
                    expected: REGION_MAGIC,
                    found: magic,
                });
            }
            if notice::published(&identity.abi_version) != 0 {
                return Ok(());
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(if self.header_is_zero() {
                    ShmError::Zeroed {
                        path: self.path.clone(),
                        waited,
                    }
                } else {
                    ShmError::StillInitialising {
                        path: self.path.clone(),
                        waited,
                        // SAFETY: in the mapped header; read as a volatile copy since a
                        // creator may still be writing.
                        creator_pid: unsafe { addr_of!(identity.owner_pid).read_volatile() },
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(1).min(timeout - waited));
        }
    }

    /// Whether every byte of the header is zero (read as relaxed atomic words: a creator may
    /// be writing).
    fn header_is_zero(&self) -> bool {
        let words = self.base().cast::<std::sync::atomic::AtomicU64>();
        (0..REGION_HEADER_BYTES / 8).all(|i| {
            // SAFETY: the header is mapped, 8-aligned and `REGION_HEADER_BYTES` (a multiple of
            // 8) long; `AtomicU64` accepts every bit pattern.
            unsafe { (*words.add(i)).load(Ordering::Relaxed) == 0 }
        })
    }

    /// Checks a published header against `desc` and the file's length `len`.
    pub(super) fn verify(&self, desc: &RingDescriptor, len: u64) -> Result<(), ShmError> {
        let h = HeaderFields::read(self.header());
        self.check_consistent(&h, len)?;
        self.check_expected(&h, desc)
    }

    /// What a published header says the region holds, after checking that it is consistent
    /// with itself and with the file's length `len` (for tools that open any region).
    pub(super) fn describe(&self, len: u64) -> Result<RingDescriptor, ShmError> {
        let h = HeaderFields::read(self.header());
        self.check_consistent(&h, len)?;
        let count = h.stage_count as usize;
        let stages: Vec<String> = h.stage_names[..count].iter().map(name_of).collect();
        let geometry = RegionGeometry::new(h.capacity, h.slot_bytes.into(), h.stage_count.into())
            .ok_or_else(|| {
            self.geometry_error("region size", "one that fits in 64 bits", "more")
        })?;
        Ok(RingDescriptor {
            event: h.event(),
            field_count: h.field_count,
            spec_fingerprint: h.spec_fingerprint,
            capacity: h.capacity,
            stages,
            deps: h.stage_deps[..count].to_vec(),
            geometry,
        })
    }

    fn geometry_error(
        &self,
        field: &str,
        expected: impl ToString,
        found: impl ToString,
    ) -> ShmError {
        ShmError::Geometry {
            path: self.path.clone(),
            field: field.to_owned(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// The rules every header keeps: this ABI version, a geometry that adds up, a file as long
    /// as the geometry.
    fn check_consistent(&self, h: &HeaderFields, len: u64) -> Result<(), ShmError> {
        let geometry = |field: &str, expected: String, found: String| {
            self.geometry_error(field, expected, found)
        };
        if h.abi_version != REGION_ABI_VERSION {
            return Err(ShmError::AbiVersion {
                path: self.path.clone(),
                expected: REGION_ABI_VERSION,
                found: h.abi_version,
            });
        }
        if h.header_bytes as usize != REGION_HEADER_BYTES {
            return Err(geometry(
                "header_bytes",
                REGION_HEADER_BYTES.to_string(),
                h.header_bytes.to_string(),
            ));
        }
        if h.stage_count as usize > SHM_V1_MAX_STAGES {
            return Err(geometry(
                "stage_count",
                format!("at most {SHM_V1_MAX_STAGES}"),
                h.stage_count.to_string(),
            ));
        }
        if h.slot_bytes != h.event_size || h.slot_align != h.event_align {
            return Err(geometry(
                "slot_bytes/slot_align",
                format!("{}/{} (the event's)", h.event_size, h.event_align),
                format!("{}/{}", h.slot_bytes, h.slot_align),
            ));
        }
        let capacity_ok = h.capacity >= 2
            && h.capacity.is_power_of_two()
            && h.capacity <= u64::from(crate::RING_V1_MAX_CAPACITY);
        if !capacity_ok {
            return Err(geometry(
                "capacity",
                format!("a power of two from 2 to {}", crate::RING_V1_MAX_CAPACITY),
                h.capacity.to_string(),
            ));
        }
        let stated = RegionGeometry::new(h.capacity, h.slot_bytes.into(), h.stage_count.into());
        let consistent = stated.filter(|g| {
            g.sequences_offset == h.sequences_offset
                && g.slots_offset == h.slots_offset
                && g.region_bytes == h.region_bytes
        });
        if consistent.is_none() {
            return Err(geometry(
                "sequences_offset/slots_offset/region_bytes",
                stated.map_or("a size that fits in 64 bits".into(), |g| {
                    format!(
                        "{}/{}/{}",
                        g.sequences_offset, g.slots_offset, g.region_bytes
                    )
                }),
                format!(
                    "{}/{}/{}",
                    h.sequences_offset, h.slots_offset, h.region_bytes
                ),
            ));
        }
        if len < h.region_bytes {
            return Err(ShmError::ShorterThanGeometry {
                path: self.path.clone(),
                expected: h.region_bytes,
                found: len,
            });
        }
        if len != h.region_bytes {
            return Err(geometry(
                "file length",
                h.region_bytes.to_string(),
                len.to_string(),
            ));
        }
        for i in 0..h.stage_count as usize {
            if h.stage_deps[i] >> i != 0 {
                return Err(geometry(
                    &format!("stage {} dependencies", i + 1),
                    "earlier stages only".to_owned(),
                    format!("{:#x}", h.stage_deps[i]),
                ));
            }
        }
        Ok(())
    }

    /// What the opener expects: the event layout, the spec, the capacity, the stages.
    fn check_expected(&self, h: &HeaderFields, desc: &RingDescriptor) -> Result<(), ShmError> {
        let found = h.event();
        if found != desc.event {
            return Err(ShmError::EventLayout {
                path: self.path.clone(),
                expected: desc.event.clone(),
                found,
            });
        }
        if h.spec_fingerprint != desc.spec_fingerprint {
            return Err(ShmError::SpecFingerprint {
                path: self.path.clone(),
                expected: desc.spec_fingerprint,
                found: h.spec_fingerprint,
            });
        }
        if h.capacity != desc.capacity {
            return Err(self.geometry_error("capacity", desc.capacity, h.capacity));
        }
        if h.stage_count as usize != desc.stages.len() {
            return Err(self.geometry_error("stage_count", desc.stages.len(), h.stage_count));
        }
        for (i, expected) in desc.stages.iter().enumerate() {
            let found = name_of(&h.stage_names[i]);
            if &found != expected {
                return Err(self.geometry_error(
                    &format!("stage {} name", i + 1),
                    format!("`{expected}`"),
                    format!("`{found}`"),
                ));
            }
            if h.stage_deps[i] != desc.deps[i] {
                return Err(self.geometry_error(
                    &format!("stage {} dependencies", i + 1),
                    format!("{:#x}", desc.deps[i]),
                    format!("{:#x}", h.stage_deps[i]),
                ));
            }
        }
        Ok(())
    }
}

/// The plain header fields, copied out once with volatile reads: the peer is untrusted, so
/// the copy is what gets checked and used, never the shared bytes again.
struct HeaderFields {
    abi_version: u32,
    header_bytes: u32,
    region_bytes: u64,
    layout_fingerprint: u64,
    spec_fingerprint: u64,
    capacity: u64,
    slot_bytes: u32,
    slot_align: u32,
    stage_count: u32,
    sequences_offset: u64,
    slots_offset: u64,
    event_name: [u8; SHM_NAME_BYTES],
    event_size: u32,
    event_align: u32,
    field_count: u32,
    stage_names: [[u8; SHM_NAME_BYTES]; SHM_V1_MAX_STAGES],
    stage_deps: [u32; SHM_V1_MAX_STAGES],
}

impl HeaderFields {
    /// The event layout the header states.
    fn event(&self) -> LayoutSummary {
        LayoutSummary {
            name: name_of(&self.event_name),
            size: self.event_size.into(),
            align: self.event_align.into(),
            fingerprint: self.layout_fingerprint,
        }
    }

    fn read(header: &RegionHeaderV1) -> Self {
        let id = &header.identity;
        // SAFETY: every pointer is to a field of the mapped header; integers and byte arrays
        // accept every bit pattern; volatile reads copy whatever a peer left there.
        unsafe {
            HeaderFields {
                abi_version: notice::published(&id.abi_version),
                header_bytes: addr_of!(id.header_bytes).read_volatile(),
                region_bytes: addr_of!(id.region_bytes).read_volatile(),
                layout_fingerprint: addr_of!(id.layout_fingerprint).read_volatile(),
                spec_fingerprint: addr_of!(id.spec_fingerprint).read_volatile(),
                capacity: addr_of!(id.capacity).read_volatile(),
                slot_bytes: addr_of!(id.slot_bytes).read_volatile(),
                slot_align: addr_of!(id.slot_align).read_volatile(),
                stage_count: addr_of!(id.stage_count).read_volatile(),
                sequences_offset: addr_of!(id.sequences_offset).read_volatile(),
                slots_offset: addr_of!(id.slots_offset).read_volatile(),
                event_name: addr_of!(header.event.name).read_volatile(),
                event_size: addr_of!(header.event.size).read_volatile(),
                event_align: addr_of!(header.event.align).read_volatile(),
                field_count: addr_of!(header.event.field_count).read_volatile(),
                stage_names: addr_of!(header.stage_names).read_volatile(),
                stage_deps: addr_of!(id.stage_deps).read_volatile(),
            }
        }
    }
}
