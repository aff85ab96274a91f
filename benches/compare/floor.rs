//! The physical floor of a round trip: two threads, two cache-padded atomics, nothing else.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crate::common::{spin_until, Padded, PingParams, Samples};

/// Value of `ping` before the first round trip.
const NONE: u64 = u64::MAX;
/// Value of `ping` that stops the echo thread.
const STOP: u64 = u64::MAX - 1;

/// The main thread stores `i` into `ping`; the echo thread, spinning on `ping`, stores it into
/// `pong`; the main thread spins until it sees it.
pub fn ping_pong(params: PingParams) -> Result<Samples, String> {
    let cells = Arc::new((Padded(AtomicU64::new(NONE)), Padded(AtomicU64::new(NONE))));
    let echo_cells = Arc::clone(&cells);
    let echo = thread::spawn(move || {
        let (ping, pong) = (&echo_cells.0 .0, &echo_cells.1 .0);
        let mut last = NONE;
        loop {
            let v = ping.load(Ordering::Acquire);
            if v != last {
                if v == STOP {
                    return;
                }
                pong.store(v, Ordering::Release);
                last = v;
            }
        }
    });
    let (ping, pong) = (&cells.0 .0, &cells.1 .0);
    let samples = params.measure(|i| {
        ping.store(i, Ordering::Release);
        spin_until(pong, i);
        Ok(())
    });
    ping.store(STOP, Ordering::Release);
    echo.join()
        .map_err(|_| "echo thread panicked".to_string())?;
    samples
}
