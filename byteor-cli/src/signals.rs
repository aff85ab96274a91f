//! SIGINT and SIGTERM as a stop flag: the first one asks a run to stop, drain and report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process's stop flag, set when the process gets SIGINT or SIGTERM (the handlers are
/// installed on the first call).
pub(crate) fn stop_flag() -> Arc<AtomicBool> {
    Arc::clone(STOP.get_or_init(|| {
        #[cfg(unix)]
        install();
        Arc::new(AtomicBool::new(false))
    }))
}

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // Async-signal-safe: an atomic load of the initialised cell and an atomic store.
    if let Some(stop) = STOP.get() {
        stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(unix)]
fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sigaction` is given a zeroed (valid) struct whose handler is an
        // `extern "C" fn(c_int)` that only touches atomics, and an empty mask; the old action
        // is not asked for (null).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether a stop was asked.
pub(crate) fn stop_requested() -> bool {
    STOP.get().is_some_and(|s| s.load(Ordering::Relaxed))
}
