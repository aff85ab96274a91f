//! Fixtures for the compile-pass and compile-fail tests in `tests/ui` (run by
//! `tests/trybuild.rs`): an order event and a few stages, so that each case file shows only
//! the construct it tests.
#![deny(missing_docs)]

pub use byteor;

use byteor::exec::lane_graph::{Emitter, LaneStage};
use byteor::prelude::*;

/// The event of the order pipelines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Order id.
    pub id: u64,
    /// Account the order belongs to (the shard key of sharded pipelines).
    pub account: u64,
    /// Signed quantity.
    pub qty: i64,
    /// Limit price.
    pub price: i64,
}

/// An event of another type, for type-mismatch cases.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quote {
    /// Bid price.
    pub bid: i64,
}

/// Clamps quantities in place (a mutating stage).
#[derive(Debug, Default, Clone)]
pub struct Parse {
    /// Largest absolute quantity.
    pub max_qty: i64,
}

impl MutStage<Order> for Parse {
    fn on_event(&mut self, order: &mut Order, _: &EventContext) -> Result<(), StageError> {
        order.qty = order.qty.clamp(-self.max_qty, self.max_qty);
        Ok(())
    }
}

/// Counts large orders (reads only).
#[derive(Debug, Default, Clone)]
pub struct Risk {
    /// Orders over the limit so far.
    pub large: u64,
}

impl Stage<Order> for Risk {
    fn on_event(&mut self, order: &Order, _: &EventContext) -> Result<(), StageError> {
        self.large += u64::from(order.qty.abs() > 1_000);
        Ok(())
    }
}

/// Checksums every order (reads only).
#[derive(Debug, Default, Clone)]
pub struct Audit {
    /// Running checksum.
    pub checksum: u64,
}

impl Stage<Order> for Audit {
    fn on_event(&mut self, order: &Order, _: &EventContext) -> Result<(), StageError> {
        self.checksum = self.checksum.rotate_left(5) ^ order.id;
        Ok(())
    }
}

/// Counts what reaches the end (reads only).
#[derive(Debug, Default, Clone)]
pub struct Publish {
    /// Orders seen.
    pub published: u64,
}

impl Stage<Order> for Publish {
    fn on_event(&mut self, _: &Order, _: &EventContext) -> Result<(), StageError> {
        self.published += 1;
        Ok(())
    }
}

/// A stage that cannot be cloned (one instance only), for sharded-ring cases.
#[derive(Debug, Default)]
pub struct Journal {
    /// Orders written.
    pub written: u64,
}

impl Stage<Order> for Journal {
    fn on_event(&mut self, _: &Order, _: &EventContext) -> Result<(), StageError> {
        self.written += 1;
        Ok(())
    }
}

/// A stage for `Quote` events, for type-mismatch cases.
#[derive(Debug, Default, Clone)]
pub struct QuoteTicker;

impl Stage<Quote> for QuoteTicker {
    fn on_event(&mut self, _: &Quote, _: &EventContext) -> Result<(), StageError> {
        Ok(())
    }
}

/// A LaneGraph stage that passes every order on.
#[derive(Debug, Default, Clone)]
pub struct Forward;

impl LaneStage<Order, Order> for Forward {
    fn on_event(&mut self, order: &Order, out: &mut Emitter<'_, Order>) -> Result<(), StageError> {
        out.emit(|slot| *slot = *order)
    }
}

/// A LaneGraph stage that turns each order into a quote at its price (another event type,
/// for type-mismatch cases).
#[derive(Debug, Default, Clone)]
pub struct Quoter;

impl LaneStage<Order, Quote> for Quoter {
    fn on_event(&mut self, order: &Order, out: &mut Emitter<'_, Quote>) -> Result<(), StageError> {
        out.emit(|quote| quote.bid = order.price)
    }
}
