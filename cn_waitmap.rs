// SPDX-License-Identifier: GPL-2.0

//! Lockdep's view of the wait for a callback's invocations to finish (used by `cn_queue.rs`);
//! lockdep maps are macros and static inlines, so its C side is in `cn_helpers.c`.

#[cfg(CONFIG_LOCKDEP)]
use crate::connector_api::CN_CBQ_NAMELEN;
#[cfg(CONFIG_LOCKDEP)]
use core::ptr::NonNull;
use kernel::prelude::*;

#[cfg(CONFIG_LOCKDEP)]
extern "C" {
    fn cn_wait_map_new(name: *const c_char) -> *mut c_void;
    fn cn_wait_map_free(map: *mut c_void);
    fn cn_wait_map_acquire(map: *mut c_void);
    fn cn_wait_map_release(map: *mut c_void);
}

/// What lockdep knows of a wait for something to finish running (a callback's invocations): a
/// lock class of its own, held while it runs (from [`WaitMap::start`] to [`WaitMap::end`]) and
/// taken, empty-handed, by the waiter before it waits ([`WaitMap::will_wait`]), as `flush_work()`
/// does. So a wait from inside the thing waited for, or under a lock that it takes, is a lockdep
/// report instead of a silent hang. Without `CONFIG_LOCKDEP` it is empty and costs nothing.
/// Unbalanced calls are lockdep reports ("bad unlock balance"), no memory error.
///
/// # Invariants
///
/// With `CONFIG_LOCKDEP`, `map` was returned by `cn_wait_map_new()` and is owned by this object.
pub struct WaitMap {
    #[cfg(CONFIG_LOCKDEP)]
    map: NonNull<c_void>,
}

// SAFETY: The map is only passed to lockdep, which may be called from any thread.
unsafe impl Send for WaitMap {}
// SAFETY: Lockdep synchronises its own state.
unsafe impl Sync for WaitMap {}

impl WaitMap {
    /// Creates a map of a new lock class named by the bytes of `name` up to its first NUL, if any
    /// (at most 31 bytes are kept). May sleep.
    #[inline]
    pub fn new(name: &[u8]) -> Result<Self> {
        #[cfg(CONFIG_LOCKDEP)]
        {
            let mut terminated = [0u8; CN_CBQ_NAMELEN];
            let kept = name.len().min(CN_CBQ_NAMELEN - 1);
            terminated[..kept].copy_from_slice(&name[..kept]);
            // The last byte stays 0: always a C string.
            let name = CStr::from_bytes_until_nul(&terminated).map_err(|_| EINVAL)?;
            // SAFETY: `name` is a NUL-terminated string, copied by the call.
            let map = unsafe { cn_wait_map_new(name.as_char_ptr()) };
            // INVARIANT: A non-null result is a new map that we own.
            NonNull::new(map).map(|map| Self { map }).ok_or(ENOMEM)
        }
        #[cfg(not(CONFIG_LOCKDEP))]
        {
            let _ = name;
            Ok(Self {})
        }
    }

    /// Marks the start of a run in the current task.
    #[inline]
    pub fn start(&self) {
        #[cfg(CONFIG_LOCKDEP)]
        {
            // SAFETY: `map` is valid (type invariant).
            unsafe { cn_wait_map_acquire(self.map.as_ptr()) };
        }
    }

    /// Marks the end of the run that [`WaitMap::start`] started in the current task.
    #[inline]
    pub fn end(&self) {
        #[cfg(CONFIG_LOCKDEP)]
        {
            // SAFETY: `map` is valid (type invariant).
            unsafe { cn_wait_map_release(self.map.as_ptr()) };
        }
    }

    /// Tells lockdep that the caller is about to wait for the runs to finish.
    pub fn will_wait(&self) {
        self.start();
        self.end();
    }
}

#[cfg(CONFIG_LOCKDEP)]
impl Drop for WaitMap {
    fn drop(&mut self) {
        // SAFETY: We own the map (type invariant).
        unsafe { cn_wait_map_free(self.map.as_ptr()) };
    }
}
