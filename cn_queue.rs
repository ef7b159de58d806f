// SPDX-License-Identifier: GPL-2.0

//! The connector's callback queue: registered callbacks keyed by [`CbId`].
//!
//! The queue lock disables interrupts, so the queue may be used from process, softirq and timer
//! context. It is never held while a callback runs: a lookup hands out an [`Invocation`] that
//! keeps its entry alive and counted as running. Removing an entry waits until no invocation of
//! it is left, so a module may unload right after unregistering. Lockdep sees each entry's
//! invocations as a lock of the entry's own class ([`WaitMap`]), so removing an entry from its
//! own callback, or under a lock its callback takes, is reported instead of hanging.

use crate::cn_netlink::WaitMap;
use crate::connector::{CbId, CN_CBQ_NAMELEN};
use kernel::{
    new_condvar, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc, CondVar, SpinLockIrq,
    },
};

/// Set in [`CallbackEntry::state`] once the entry is being removed: no invocation starts any more,
/// but its id stays taken until the removal is complete.
const REMOVED: u32 = 1 << 31;

/// One registered callback.
pub struct CallbackEntry<H> {
    id: CbId,
    name: [u8; CN_CBQ_NAMELEN],
    handler: H,
    group: u32,
    /// Number of running invocations, plus [`REMOVED`] once the entry is being removed. Only
    /// removers set [`REMOVED`], under the queue lock.
    state: Atomic<u32>,
    /// The invocations, as lockdep sees them.
    wait_map: WaitMap,
}

impl<H> CallbackEntry<H> {
    /// The identifier the callback is registered for.
    pub fn id(&self) -> CbId {
        self.id
    }

    /// The callback's name: NUL-terminated, at most `CN_CBQ_NAMELEN - 1` bytes before the NUL.
    pub fn name(&self) -> &[u8; CN_CBQ_NAMELEN] {
        &self.name
    }

    /// The netlink group that messages for this callback are broadcast to.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// Whether the entry is not being removed.
    fn is_live(&self) -> bool {
        self.state.load(ordering::Relaxed) & REMOVED == 0
    }
}

/// A running invocation of a callback: keeps the entry alive and counted as running.
pub struct Invocation<'a, H> {
    queue: &'a CallbackQueue<H>,
    entry: Arc<CallbackEntry<H>>,
}

impl<H> Invocation<'_, H> {
    /// The registered handler.
    pub fn handler(&self) -> &H {
        &self.entry.handler
    }
}

impl<H> Drop for Invocation<'_, H> {
    fn drop(&mut self) {
        self.entry.wait_map.end();
        if self.entry.state.fetch_sub(1, ordering::Full) == REMOVED | 1 {
            // The last invocation of a removed entry: wake its remover. Taking the lock orders
            // the wake-up after the remover's check of `state` and its going to sleep.
            let _guard = self.queue.entries.lock();
            self.queue.idle.notify_all();
        }
    }
}

/// The callback queue.
///
/// `H` is what is called for a message: a C function pointer in the core.
#[pin_data]
pub struct CallbackQueue<H> {
    #[pin]
    entries: SpinLockIrq<KVec<Arc<CallbackEntry<H>>>>,
    /// Signalled when the last invocation of a removed entry ends.
    #[pin]
    idle: CondVar,
}

impl<H: Send + Sync> CallbackQueue<H> {
    /// Creates an empty queue.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            entries <- new_spinlock_irq!(KVec::new(), "cn_queue"),
            idle <- new_condvar!("cn_queue_idle"),
        })
    }

    /// Adds a callback for `id`, named `name` (truncated to `CN_CBQ_NAMELEN - 1` bytes).
    ///
    /// Its group is `id.idx`. Fails with `EINVAL` if `id` is already registered, or still being
    /// removed.
    pub fn add(&self, id: CbId, name: &[u8], handler: H) -> Result {
        let mut stored = [0u8; CN_CBQ_NAMELEN];
        let kept = name.len().min(CN_CBQ_NAMELEN - 1);
        stored[..kept].copy_from_slice(&name[..kept]);
        let wait_map = WaitMap::new(CStr::from_bytes_until_nul(&stored).unwrap_or(c"cn_callback"))?;
        let entry = Arc::new(
            CallbackEntry {
                id,
                name: stored,
                handler,
                group: id.idx,
                state: Atomic::new(0),
                wait_map,
            },
            GFP_KERNEL,
        )?;
        // On an early return the guard goes first, then the entry: an entry must not be dropped
        // under the lock (freeing its lockdep class sleeps).
        let mut entries = self.entries.lock();
        if entries.iter().any(|e| e.id == id) {
            return Err(EINVAL);
        }
        // Interrupts are off under the lock, so the vector may only grow atomically.
        entries.reserve(1, GFP_ATOMIC)?;
        entries.push_within_capacity(entry).map_err(|_| ENOMEM)
    }

    /// Removes the callback for `id`: no invocation of it starts any more; once none is running,
    /// `retire` is called, and then the id is free again. Until then the id stays taken, so that
    /// `retire` (which drops what the callback left behind) cannot meet a new registration of it.
    ///
    /// Returns whether this call removed the callback. A concurrent removal of the same id also
    /// waits until no invocation is running, but returns `false` (and may return before `retire`
    /// is done). Sleeps: must not be called from atomic context nor from the callback being
    /// removed (lockdep reports that).
    pub fn remove(&self, id: CbId, retire: impl FnOnce()) -> bool {
        let (entry, first) = {
            let entries = self.entries.lock();
            let Some(entry) = entries.iter().find(|e| e.id == id) else {
                return false;
            };
            // Only removers set `REMOVED`, and only under the lock: check and set are one step.
            let first = entry.state.load(ordering::Relaxed) & REMOVED == 0;
            if first {
                entry.state.fetch_add(REMOVED, ordering::Full);
            }
            (entry.clone(), first)
        };
        // No new invocation starts. Outside the queue lock, which invocations may take, tell
        // lockdep that we wait for the running ones.
        entry.wait_map.will_wait();
        {
            let mut entries = self.entries.lock();
            while entry.state.load(ordering::Acquire) != REMOVED {
                self.idle.wait(&mut entries);
            }
        }
        if first {
            retire();
            let unlinked = {
                let mut entries = self.entries.lock();
                let position = entries.iter().position(|e| Arc::ptr_eq(e, &entry));
                position.and_then(|pos| entries.remove(pos).ok())
            };
            // Outside the lock: freeing the entry's lockdep class sleeps.
            drop(unlinked);
        }
        first
    }

    /// Looks up `id` and starts an invocation of its callback.
    pub fn invoke(&self, id: CbId) -> Option<Invocation<'_, H>> {
        let entries = self.entries.lock();
        let entry = entries.iter().find(|e| e.id == id && e.is_live())?.clone();
        // Not `REMOVED` (checked under the lock, under which removers set it): a remover will
        // wait for us.
        entry.state.fetch_add(1, ordering::Relaxed);
        drop(entries);
        entry.wait_map.start();
        Some(Invocation { queue: self, entry })
    }

    /// The group of the callback registered for `id`.
    pub fn group_of(&self, id: CbId) -> Option<u32> {
        self.entries
            .lock()
            .iter()
            .find(|e| e.id == id && e.is_live())
            .map(|e| e.group)
    }

    /// Calls `f` for every registered entry (not those being removed), in registration order,
    /// under the queue lock.
    pub fn for_each(&self, mut f: impl FnMut(&CallbackEntry<H>)) {
        for entry in self.entries.lock().iter().filter(|e| e.is_live()) {
            f(entry);
        }
    }
}

#[kunit_tests(cn_queue)]
mod tests {
    use super::*;
    use kernel::sync::Arc;

    fn queue() -> Pin<KBox<CallbackQueue<u32>>> {
        KBox::pin_init(CallbackQueue::new(), GFP_KERNEL).unwrap()
    }

    fn ids(q: &CallbackQueue<u32>) -> KVec<(u32, u32)> {
        let mut out = KVec::new();
        q.for_each(|e| out.push((e.id().idx, e.id().val), GFP_ATOMIC).unwrap());
        out
    }

    #[test]
    fn add_and_lookup() {
        let q = queue();
        q.add(CbId::new(14, 0x456), b"one", 1).unwrap();
        q.add(CbId::new(14, 0x457), b"two", 2).unwrap();
        assert_eq!(*q.invoke(CbId::new(14, 0x457)).unwrap().handler(), 2);
        assert_eq!(*q.invoke(CbId::new(14, 0x456)).unwrap().handler(), 1);
        assert!(q.invoke(CbId::new(14, 0x458)).is_none());
        assert!(q.invoke(CbId::new(15, 0x456)).is_none());
        assert_eq!(q.group_of(CbId::new(14, 0x456)), Some(14));
        assert_eq!(q.group_of(CbId::new(1, 1)), None);
    }

    #[test]
    fn duplicate_id_is_einval() {
        let q = queue();
        q.add(CbId::new(3, 4), b"first", 1).unwrap();
        assert_eq!(q.add(CbId::new(3, 4), b"second", 2), Err(EINVAL));
        assert_eq!(*q.invoke(CbId::new(3, 4)).unwrap().handler(), 1);
        assert_eq!(ids(&q).len(), 1);
    }

    #[test]
    fn delete_removes_only_that_id() {
        let q = queue();
        q.add(CbId::new(1, 1), b"a", 1).unwrap();
        q.add(CbId::new(1, 2), b"b", 2).unwrap();
        q.add(CbId::new(2, 1), b"c", 3).unwrap();
        assert!(q.remove(CbId::new(1, 2), || ()));
        assert!(!q.remove(CbId::new(1, 2), || ()));
        assert!(q.invoke(CbId::new(1, 2)).is_none());
        assert_eq!(&ids(&q)[..], &[(1, 1), (2, 1)]);
        // The id is free again.
        q.add(CbId::new(1, 2), b"b", 4).unwrap();
        assert_eq!(*q.invoke(CbId::new(1, 2)).unwrap().handler(), 4);
    }

    #[test]
    fn id_stays_taken_until_retired() {
        let q = queue();
        let id = CbId::new(4, 4);
        q.add(id, b"x", 1).unwrap();
        let mut retired = false;
        assert!(q.remove(id, || {
            // While it is retired: not invocable, not listed, and not registrable again.
            assert!(q.invoke(id).is_none());
            assert_eq!(q.group_of(id), None);
            assert_eq!(ids(&q).len(), 0);
            assert_eq!(q.add(id, b"y", 2), Err(EINVAL));
            retired = true;
        }));
        assert!(retired);
        // Complete: the id is free.
        q.add(id, b"y", 2).unwrap();
        assert_eq!(*q.invoke(id).unwrap().handler(), 2);
    }

    #[test]
    fn keeps_registration_order() {
        let q = queue();
        q.add(CbId::new(9, 9), b"z", 0).unwrap();
        q.add(CbId::new(1, 1), b"a", 0).unwrap();
        q.add(CbId::new(5, 5), b"m", 0).unwrap();
        assert_eq!(&ids(&q)[..], &[(9, 9), (1, 1), (5, 5)]);
    }

    #[test]
    fn name_is_truncated_to_31_bytes() {
        let q = queue();
        let long = [b'n'; 40];
        q.add(CbId::new(1, 1), &long, 0).unwrap();
        q.add(CbId::new(1, 2), b"short", 0).unwrap();
        let mut names = KVec::new();
        q.for_each(|e| names.push(*e.name(), GFP_ATOMIC).unwrap());
        assert_eq!(&names[0][..31], &[b'n'; 31]);
        assert_eq!(names[0][31], 0);
        assert_eq!(&names[1][..6], b"short\0");
    }

    #[test]
    fn running_invocation_keeps_entry_alive() {
        let q = queue();
        q.add(CbId::new(7, 7), b"x", 77).unwrap();
        let running = q.invoke(CbId::new(7, 7)).unwrap();
        let entry: Arc<CallbackEntry<u32>> = running.entry.clone();
        assert_eq!(entry.state.load(ordering::Relaxed), 1);
        drop(running);
        assert_eq!(entry.state.load(ordering::Relaxed), 0);
        // With nothing running, removal does not wait.
        assert!(q.remove(CbId::new(7, 7), || ()));
        assert_eq!(entry.state.load(ordering::Relaxed), REMOVED);
    }
}
