//! Ending a receive loop cleanly on SIGINT and SIGTERM.
//!
//! The handler only sets a flag. It is installed without `SA_RESTART`, and both signals stay
//! blocked except while the program waits for a datagram ([`wait_mask`], given to `ppoll()`):
//! a signal that comes at any other moment waits for the next `ppoll()`, which it then ends
//! with EINTR, so that none slips in between a check of the flag and the wait.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Set by the handler.
static STOP: AtomicBool = AtomicBool::new(false);

/// The signal mask to wait with: the program's own, with SIGINT and SIGTERM open.
static WAIT_MASK: OnceLock<libc::sigset_t> = OnceLock::new();

const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Fails with the last OS error if `r` is not 0.
fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The set of SIGINT and SIGTERM.
fn stop_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, made empty by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in STOP_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
    }
    set
}

/// Catches SIGINT and SIGTERM from now on (also when the shell started us with them ignored, as
/// it does for background jobs): they end the receive loop instead of the process.
pub fn catch_stop_signals() -> io::Result<()> {
    // SAFETY: sigaction is plain data; all zero is no flags and an empty mask.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // No SA_RESTART: the wait ends with EINTR.
    action.sa_flags = 0;
    for signal in STOP_SIGNALS {
        // SAFETY: a valid action whose handler only stores to an atomic.
        check(unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) })?;
    }
    let block = stop_set();
    // SAFETY: sigset_t is plain data, filled in by pthread_sigmask.
    let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sets; the program's receive loops run on the main thread.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut previous) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    for signal in STOP_SIGNALS {
        // SAFETY: previous is a valid sigset_t.
        unsafe { libc::sigdelset(&mut previous, signal) };
    }
    // A second call finds the same mask already there.
    let _ = WAIT_MASK.set(previous);
    Ok(())
}

/// The mask for `ppoll()`: `None` (the current one) unless [`catch_stop_signals`] ran.
pub fn wait_mask() -> Option<&'static libc::sigset_t> {
    WAIT_MASK.get()
}

/// Whether SIGINT or SIGTERM came since [`catch_stop_signals`].
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
