//! Shared pieces of the byteor examples.

#[cfg(feature = "async")]
pub mod tokio_service;

pub mod orders {
    //! The order domain of the `quickstart` and `quickstart_macro` examples: one event type and
    //! four stages, wired the same way by the typed builder in one and by `#[pipeline]` in the
    //! other.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use byteor::prelude::*;

    /// An order as it travels the ring. Plain data: slots are pre-allocated and reused.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct Order {
        /// Order id.
        pub id: u64,
        /// Account the order belongs to.
        pub account: u64,
        /// Signed quantity.
        pub qty: i64,
        /// Limit price in ticks.
        pub price: i64,
        /// Set by `parse`: 0 = ok, otherwise a reject code.
        pub reject: u32,
    }

    impl Order {
        /// Writes the `i`-th order of the examples' synthetic order flow into `slot` (every field
        /// is overwritten: the slot still holds an older order). One in a thousand has no price.
        pub fn fill(slot: &mut Order, i: u64) {
            slot.id = i;
            slot.account = i.wrapping_mul(0x9E37_79B9) % 4096;
            slot.qty = (i % 200) as i64 - 100;
            slot.price = if i % 1000 == 999 {
                0
            } else {
                100 + (i % 50) as i64
            };
            slot.reject = 0;
        }
    }

    /// Rejects nonsensical orders and clamps quantities (mutates the order).
    #[derive(Debug)]
    pub struct Parse {
        /// Largest absolute quantity accepted.
        pub max_qty: i64,
    }

    impl MutStage<Order> for Parse {
        fn on_event(&mut self, order: &mut Order, _: &EventContext) -> Result<(), StageError> {
            order.reject = u32::from(order.price <= 0);
            order.qty = order.qty.clamp(-self.max_qty, self.max_qty);
            Ok(())
        }
    }

    /// Tracks per-account exposure (reads only).
    #[derive(Debug)]
    pub struct Risk {
        exposure: Vec<i64>,
        breaches: u64,
    }

    impl Risk {
        /// Exposure buckets for `accounts` accounts.
        pub fn new(accounts: usize) -> Self {
            Risk {
                exposure: vec![0; accounts],
                breaches: 0,
            }
        }
    }

    impl Stage<Order> for Risk {
        fn on_event(&mut self, order: &Order, _: &EventContext) -> Result<(), StageError> {
            if order.reject == 0 {
                let buckets = self.exposure.len() as u64;
                let slot = &mut self.exposure[(order.account % buckets) as usize];
                *slot += order.qty * order.price;
                if slot.abs() > 1_000_000_000 {
                    self.breaches += 1;
                    *slot = 0;
                }
            }
            Ok(())
        }
    }

    /// Keeps a running checksum of everything seen, as an audit trail would.
    #[derive(Debug, Default)]
    pub struct Audit {
        checksum: u64,
    }

    impl Stage<Order> for Audit {
        fn on_event(&mut self, order: &Order, ctx: &EventContext) -> Result<(), StageError> {
            self.checksum = self
                .checksum
                .rotate_left(5)
                .wrapping_add(order.id ^ ctx.sequence);
            Ok(())
        }
    }

    /// Counts accepted orders (a stand-in for writing them to the egress).
    #[derive(Debug)]
    pub struct Publish {
        accepted: Arc<AtomicU64>,
        local: u64,
    }

    impl Publish {
        /// A stage reporting the number of accepted orders into `accepted`.
        pub fn new(accepted: Arc<AtomicU64>) -> Self {
            Publish { accepted, local: 0 }
        }
    }

    impl Stage<Order> for Publish {
        fn on_event(&mut self, order: &Order, _: &EventContext) -> Result<(), StageError> {
            self.local += u64::from(order.reject == 0);
            Ok(())
        }

        fn on_batch_end(&mut self, _: &BatchContext) -> Result<(), StageError> {
            // Publish the count once per batch, not per event.
            self.accepted.store(self.local, Ordering::Relaxed);
            Ok(())
        }
    }
}

pub mod ticks {
    //! The shared-memory examples' domain: a plain-data event that Rust and C processes both
    //! read from a ring in `/dev/shm` (its C header, `examples/c/tick.h`, is generated from
    //! this type by `cargo xtask gen-header`), and the pipeline every process of the
    //! `shm_pipeline` example builds.

    /// A tick: its sequence number and a value. `#[repr(C)]`, no padding: the same bytes in
    /// every process, Rust or C.
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, byteor::ShmEvent)]
    #[repr(C)]
    pub struct Tick {
        /// 0, 1, 2, ... in publication order.
        pub seq: u64,
        /// The payload the stages sum.
        pub value: u64,
    }

    impl Tick {
        /// The `i`-th tick of the examples' stream.
        pub fn nth(i: u64) -> Tick {
            Tick {
                seq: i,
                value: i % 1000,
            }
        }

        /// The sum of the values of the first `n` ticks.
        pub fn sum_of_first(n: u64) -> u64 {
            (0..n).map(|i| Tick::nth(i).value).sum()
        }
    }
}
