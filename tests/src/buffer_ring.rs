//! A second [`RingStorage`]: a ring laid out inside a caller-provided byte buffer — the cursor,
//! the stage sequences and the slots at fixed offsets, as a shared-memory region lays them
//! out. The executor's behaviour tests run over it as well as over `MemRing`, so the runtime is
//! known to depend on nothing but the `RingStorage` contract.

use std::mem::{align_of, size_of};

use byteor::backing::{BackingError, RingStorage};
use byteor::kernel::{Sequence, SlotCell, SEQUENCE_PADDING};

/// One 128-byte, 128-aligned line of a [`RingBuffer`].
#[derive(Clone, Copy)]
#[repr(C, align(128))]
pub struct Line([u8; 128]);

/// Zeroed bytes aligned to 128, to lay a ring out in.
pub struct RingBuffer {
    lines: Box<[Line]>,
}

impl RingBuffer {
    /// At least `bytes` zeroed bytes.
    pub fn zeroed(bytes: usize) -> Self {
        RingBuffer {
            lines: vec![Line([0; 128]); bytes.div_ceil(128)].into_boxed_slice(),
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.lines.len() * 128
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Where each part of a [`BufferRing`] lives in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLayout {
    /// Offset of the cursor (0).
    pub cursor: usize,
    /// Offset of the first stage sequence.
    pub stages: usize,
    /// Offset of the first slot.
    pub slots: usize,
    /// Bytes the ring needs.
    pub bytes: usize,
}

/// A ring whose sequences and slots live in a [`RingBuffer`].
pub struct BufferRing<E> {
    /// The buffer's lines, taken out of their `Box` so that every access derives from one raw
    /// pointer with write permission (slots and sequences are written through shared
    /// references to their interior-mutable cells).
    base: std::ptr::NonNull<Line>,
    lines: usize,
    layout: BufferLayout,
    capacity: u64,
    stages: usize,
    _events: std::marker::PhantomData<E>,
}

impl<E: Default> BufferRing<E> {
    /// The layout of a ring of `capacity` slots and `stages` stage sequences.
    pub fn layout(capacity: u64, stages: usize) -> BufferLayout {
        let stages_at = SEQUENCE_PADDING;
        let after_stages = stages_at + stages * SEQUENCE_PADDING;
        let slot_align = align_of::<SlotCell<E>>().max(1);
        let slots_at = after_stages.div_ceil(slot_align) * slot_align;
        BufferLayout {
            cursor: 0,
            stages: stages_at,
            slots: slots_at,
            bytes: slots_at + capacity as usize * size_of::<SlotCell<E>>(),
        }
    }

    /// Lays a fresh ring out in `buffer`: every sequence 0, every slot `E::default()`.
    pub fn new_in(buffer: RingBuffer, capacity: u64, stages: usize) -> Result<Self, BackingError> {
        if capacity < 2 || !capacity.is_power_of_two() {
            return Err(BackingError::BadCapacity { capacity });
        }
        let layout = Self::layout(capacity, stages);
        if layout.bytes > buffer.len() || align_of::<SlotCell<E>>() > 128 {
            return Err(BackingError::TooLarge {
                what: "buffer ring".into(),
                capacity,
                shards: 1,
                slot_bytes: size_of::<SlotCell<E>>() as u64,
                bytes: layout.bytes as u64,
                max: buffer.len() as u64,
            });
        }
        let lines = buffer.lines.len();
        let raw = Box::into_raw(buffer.lines);
        // SAFETY: `Box::into_raw` never returns null.
        let base_lines = unsafe { std::ptr::NonNull::new_unchecked(raw.cast::<Line>()) };
        let base = base_lines.as_ptr().cast::<u8>();
        // SAFETY: the buffer holds at least `layout.bytes` bytes (checked above) and is
        // 128-aligned; every offset below is a multiple of the written type's alignment
        // (sequences at multiples of 128, slots at a multiple of the cell's alignment, which is
        // at most 128), and the regions do not overlap. Nothing else references the buffer yet.
        unsafe {
            for i in 0..=stages {
                base.add(i * SEQUENCE_PADDING)
                    .cast::<Sequence>()
                    .write(Sequence::new(0));
            }
            let slots = base.add(layout.slots).cast::<SlotCell<E>>();
            for i in 0..capacity as usize {
                slots.add(i).write(SlotCell::new(E::default()));
            }
        }
        Ok(BufferRing {
            base: base_lines,
            lines,
            layout,
            capacity,
            stages,
            _events: std::marker::PhantomData,
        })
    }
}

impl<E> BufferRing<E> {
    fn base(&self) -> *const u8 {
        self.base.as_ptr().cast::<u8>()
    }

    /// Where the parts of this ring live.
    pub fn buffer_layout(&self) -> BufferLayout {
        self.layout
    }
}

impl<E> Drop for BufferRing<E> {
    fn drop(&mut self) {
        let slots = self.base().wrapping_add(self.layout.slots) as *mut SlotCell<E>;
        for i in 0..self.capacity as usize {
            // SAFETY: `new_in` wrote a cell at each of these positions and nothing dropped
            // them since; `&mut self` means no reference into the buffer is alive.
            unsafe { slots.add(i).drop_in_place() };
        }
        // SAFETY: `base` and `lines` came from `Box::into_raw` of a boxed slice of `lines`
        // lines in `new_in`, and are given back exactly once, here.
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.base.as_ptr(),
                self.lines,
            ))
        });
    }
}

// SAFETY: the slots are only accessed through the kernel protocol, which gives one writer or
// many readers per slot at a time: as for `MemRing`, moving events between threads needs
// `E: Send`, and concurrent readers need `E: Sync`. Sequences are atomics.
unsafe impl<E: Send + Sync> Sync for BufferRing<E> {}
// SAFETY: as above; the ring owns its buffer and its events.
unsafe impl<E: Send> Send for BufferRing<E> {}

// SAFETY: `new_in` checked that the capacity is a power of two >= 2 and laid out exactly
// `capacity` cells at `layout.slots`, one cursor at 0 and `stages` sequences after it, all
// inside the boxed buffer, which never moves or shrinks while the ring lives; the regions do
// not overlap, and only the executor touches them.
unsafe impl<E: Send + Sync + 'static> RingStorage for BufferRing<E> {
    type Event = E;

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn cursor(&self) -> &Sequence {
        // SAFETY: a `Sequence` was written at offset 0 by `new_in` and lives as long as `self`.
        unsafe { &*self.base().cast::<Sequence>() }
    }

    fn stage_sequences(&self) -> &[Sequence] {
        // SAFETY: `stages` sequences were written contiguously from `layout.stages`
        // (`Sequence` is exactly `SEQUENCE_PADDING` bytes, so they form an array).
        unsafe {
            std::slice::from_raw_parts(
                self.base().add(self.layout.stages).cast::<Sequence>(),
                self.stages,
            )
        }
    }

    fn slots(&self) -> &[SlotCell<E>] {
        // SAFETY: `capacity` cells were written contiguously from `layout.slots`.
        unsafe {
            std::slice::from_raw_parts(
                self.base().add(self.layout.slots).cast::<SlotCell<E>>(),
                self.capacity as usize,
            )
        }
    }
}
