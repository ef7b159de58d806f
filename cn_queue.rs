// SPDX-License-Identifier: GPL-2.0

//! The connector's callback queue: registered callbacks keyed by [`CbId`].
//!
//! An RCU list: a lookup takes no lock and writes only the in-flight count of the entry it finds,
//! so the receive path (any context, any CPU) neither disables interrupts nor shares a cache line
//! with other ids' traffic; registration and removal (rare, sleeping) take a mutex. No lock is
//! held while a callback runs: a lookup hands out an [`Invocation`] that counts the entry as
//! running, and removal waits until none is left, a wait lockdep sees ([`WaitMap`]).
//!
//! The fields a message touches (list links, in-flight counts) are `core` atomics with
//! acquire/release orderings, one instruction each (the kernel crate's `Atomic` is out of line:
//! README.md, *Hot paths*); only this file accesses them, never mixed with plain accesses or C.

use crate::cn_waitmap::WaitMap;
use crate::connector_api::{CbId, CN_CBQ_NAMELEN};
use core::{
    mem::ManuallyDrop,
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, AtomicU32, Ordering},
};
use kernel::{
    bindings, new_condvar, new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{rcu, CondVar, Mutex, MutexGuard, SpinLockIrq},
    types::{NotThreadSafe, Opaque},
};

/// `id` as one integer, so that a lookup compares each entry's id in one instruction (the two
/// fields are adjacent: loads that the compiler combines).
#[inline(always)]
fn id_key(id: CbId) -> u64 {
    u64::from(id.idx) | (u64::from(id.val) << 32)
}

/// Set in [`CallbackEntry::state`] once the entry is being removed: no invocation starts any more,
/// but its id stays taken until the removal is complete.
const REMOVED: u32 = 1 << 31;

/// One registered callback: a node of the queue's RCU list.
///
/// # Invariants
///
/// Allocated by [`KBox`] and linked into at most one queue. `wait_map` is dropped once, by the
/// first remover, after the last invocation and every other remover are done, when the node is
/// unlinked; its memory is freed after an RCU grace period (through `rcu`), so that readers that
/// still see the node can read `next`, `id`, `name` and `state`.
#[repr(C)]
pub struct CallbackEntry<H> {
    /// For freeing the node after the readers that may still see it. First: `kvfree_rcu` needs
    /// its head within the object's first 4096 bytes, whatever `H` is.
    rcu: Opaque<bindings::kvfree_rcu_head>,
    /// The next node of the list, or null. Written under the queue's `registry`, read under RCU.
    next: AtomicPtr<CallbackEntry<H>>,
    id: CbId,
    /// Number of running invocations, plus [`REMOVED`] once the entry is being removed. Only
    /// removers set [`REMOVED`], under the queue's `registry`.
    state: AtomicU32,
    /// Removers other than the one that set [`REMOVED`], waiting for its invocations: the node is
    /// not freed before they are done. Increased under `registry`, decreased (release) under
    /// `waits`; read with acquire.
    other_removers: AtomicU32,
    name: [u8; CN_CBQ_NAMELEN],
    handler: H,
    /// The invocations, as lockdep sees them.
    wait_map: ManuallyDrop<WaitMap>,
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

    /// The registered handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Whether the entry is not being removed.
    fn is_live(&self) -> bool {
        self.state.load(Ordering::Relaxed) & REMOVED == 0
    }
}

/// A running invocation of a callback: keeps the entry counted as running, so its remover waits.
///
/// # Invariants
///
/// `entry` is linked in `queue` or being removed from it, and this invocation is counted in its
/// `state`, which keeps the remover from dropping or freeing it. It ends in the task that started
/// it (lockdep's view of the run is per task), hence not `Send`.
pub struct Invocation<'a, H> {
    queue: &'a CallbackQueue<H>,
    entry: NonNull<CallbackEntry<H>>,
    _not_send: NotThreadSafe,
}

impl<H> Invocation<'_, H> {
    /// The entry, alive while the invocation is counted.
    fn entry(&self) -> &CallbackEntry<H> {
        // SAFETY: Counted in the entry's `state` (type invariant): not freed before `drop`.
        unsafe { self.entry.as_ref() }
    }

    /// The registered handler.
    pub fn handler(&self) -> &H {
        self.entry().handler()
    }
}

impl<H> Drop for Invocation<'_, H> {
    #[inline]
    fn drop(&mut self) {
        self.entry().wait_map.end();
        // SAFETY: Counted (type invariant); the count is dropped exactly once, here.
        unsafe { self.queue.put(self.entry) };
    }
}

/// The callback queue. `H` is what is called for a message (the core's `Handler`): plain data,
/// never dropped.
///
/// # Invariants
///
/// `head` is the first node of a singly linked list of [`CallbackEntry`] nodes owned by the queue,
/// in registration order, changed only under `registry` and published with release stores, so
/// that readers under RCU see complete nodes. A node unlinked from the list is freed only after an
/// RCU grace period.
#[pin_data(PinnedDrop)]
pub struct CallbackQueue<H> {
    head: AtomicPtr<CallbackEntry<H>>,
    /// Serialises changes of the list: registrations, the marking of removed entries and their
    /// unlinking. Never taken by readers.
    #[pin]
    registry: Mutex<()>,
    /// The lock of `idle`: removers check under it that no invocation (or other remover) is left
    /// before they sleep, and the last one takes it to wake them; interrupt-safe: the wake-up
    /// never sleeps, in any context.
    #[pin]
    waits: SpinLockIrq<()>,
    /// Signalled when the last invocation of a removed entry ends, or a concurrent remover is done.
    #[pin]
    idle: CondVar,
}

// SAFETY: The list's nodes are shared between threads as `&CallbackEntry<H>`, which hands out
// `&H`: sending or sharing the queue needs `H: Sync + Send`.
unsafe impl<H: Send + Sync> Send for CallbackQueue<H> {}
// SAFETY: As above; the list itself is changed only under `registry` and read under RCU.
unsafe impl<H: Send + Sync> Sync for CallbackQueue<H> {}

impl<H> CallbackQueue<H> {
    /// The nodes of the list, from the head, for a reader under RCU.
    fn entries<'a>(&'a self, _rcu: &'a rcu::Guard) -> impl Iterator<Item = &'a CallbackEntry<H>> {
        // SAFETY: Nodes are freed only after a grace period, which `_rcu` holds off.
        unsafe { self.walk() }
    }

    /// The nodes of the list, from the head, for a writer (under `registry`).
    fn entries_locked<'a>(
        &'a self,
        _registry: &'a MutexGuard<'_, ()>,
    ) -> impl Iterator<Item = &'a CallbackEntry<H>> {
        // SAFETY: Nodes are unlinked only under `registry`, which `_registry` holds.
        unsafe { self.walk() }
    }

    /// The nodes of the list, from the head.
    ///
    /// # Safety
    ///
    /// The caller keeps the nodes from being freed for `'a`: under RCU or under `registry`.
    unsafe fn walk<'a>(&'a self) -> impl Iterator<Item = &'a CallbackEntry<H>> {
        // SAFETY: `head` and the `next` fields are null or point to nodes of the list (type
        // invariant), kept alive for `'a` by the safety requirements.
        let mut next = unsafe { self.head.load(Ordering::Acquire).as_ref() };
        core::iter::from_fn(move || {
            let entry = next?;
            // SAFETY: As above.
            next = unsafe { entry.next.load(Ordering::Acquire).as_ref() };
            Some(entry)
        })
    }

    /// Frees a node that is no longer in the list, once the readers that may still see it are
    /// done: its wait map at once, its memory after a grace period.
    ///
    /// # Safety
    ///
    /// `entry` came from [`KBox::into_raw`], is unlinked, and no invocation of it runs or starts
    /// (it is [`REMOVED`] with no invocation left).
    unsafe fn free_unlinked(entry: *mut CallbackEntry<H>) {
        // SAFETY: The node is still allocated and, by the safety requirements, nobody uses its
        // wait map any more (readers that still see the node find it `REMOVED`).
        unsafe { ManuallyDrop::drop(&mut (*entry).wait_map) };
        // SAFETY: The node came from `KBox` (kmalloc), so `kvfree()` frees it; `rcu` is its own
        // head, unused so far; after the grace period no reader can still hold a reference.
        unsafe { bindings::kvfree_call_rcu((*entry).rcu.get(), entry.cast()) };
    }

    /// Ends one counted run (or attempt) of `entry`, waking its remover if it was the last.
    ///
    /// # Safety
    ///
    /// `entry` is a node of this queue in which the caller holds one count, given up here: the
    /// node may be freed as soon as the count is down, so it is not touched after that. A count
    /// taken on a node found `REMOVED` is given back within the RCU section that found it, so
    /// that the grace period before the node is freed covers it.
    #[inline]
    unsafe fn put(&self, entry: NonNull<CallbackEntry<H>>) {
        // SAFETY: Alive while our count holds it, which the decrement gives up last.
        let state = unsafe { &(*entry.as_ptr()).state };
        if state.fetch_sub(1, Ordering::Release) == REMOVED | 1 {
            self.wake_removers();
        }
    }

    /// Wakes the removers after the last invocation of a removed entry; the lock orders the
    /// wake-up after a remover's check of `state` and its going to sleep.
    #[cold]
    #[inline(never)]
    fn wake_removers(&self) {
        let _waits = self.waits.lock();
        self.idle.notify_all();
    }
}

impl<H: Copy + Send + Sync> CallbackQueue<H> {
    /// Creates an empty queue.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            head: AtomicPtr::new(ptr::null_mut()),
            registry <- new_mutex!((), "cn_queue"),
            waits <- new_spinlock_irq!((), "cn_queue_waits"),
            idle <- new_condvar!("cn_queue_idle"),
        })
    }

    /// Adds a callback for `id`, named `name` (truncated to `CN_CBQ_NAMELEN - 1` bytes). `EINVAL`
    /// if `id` is already registered, or still being removed.
    pub fn add(&self, id: CbId, name: &[u8], handler: H) -> Result {
        let name = &name[..name.len().min(CN_CBQ_NAMELEN - 1)];
        // The memory first: the wait map, once made, must go to the entry (its drop is manual).
        let memory = KBox::<CallbackEntry<H>>::new_uninit(GFP_KERNEL)?;
        let wait_map = WaitMap::new(name)?;
        let mut entry = memory.write(CallbackEntry {
            next: AtomicPtr::new(ptr::null_mut()),
            id,
            state: AtomicU32::new(0),
            other_removers: AtomicU32::new(0),
            name: [0; CN_CBQ_NAMELEN],
            handler,
            wait_map: ManuallyDrop::new(wait_map),
            rcu: Opaque::uninit(),
        });
        // Written in place (not built on the stack and moved): registrations are timed too.
        entry.name[..name.len()].copy_from_slice(name);
        {
            let registry = self.registry.lock();
            let mut tail = &self.head;
            let mut taken = false;
            for existing in self.entries_locked(&registry) {
                taken |= existing.id == id;
                tail = &existing.next;
            }
            if !taken {
                // INVARIANT: Appended under `registry`, complete before it is published (release).
                tail.store(KBox::into_raw(entry), Ordering::Release);
                return Ok(());
            }
        }
        // Never published: dropped at once, outside the lock (the wait map's drop may sleep).
        drop(ManuallyDrop::into_inner(KBox::into_inner(entry).wait_map));
        Err(EINVAL)
    }

    /// Removes the callback for `id`: no invocation of it starts any more; once none is running,
    /// `retire` (which drops what the callback left behind) is called, then the entry is unlinked
    /// and the id is free again; until then no new registration of it can meet `retire`. If none
    /// runs and `nothing_to_retire` (called under `registry`) says so, it is unlinked at once,
    /// without `retire`. Returns whether this call removed it: a concurrent removal of the id also
    /// waits for the invocations, but returns `false` (maybe before `retire` is done). Sleeps: not
    /// from atomic context nor from the callback being removed (lockdep reports that).
    pub fn remove(
        &self,
        id: CbId,
        nothing_to_retire: impl FnOnce() -> bool,
        retire: impl FnOnce(),
    ) -> bool {
        let (entry, first, unlinked) = {
            let registry = self.registry.lock();
            let Some(entry) = self.entries_locked(&registry).find(|e| e.id == id) else {
                return false;
            };
            // Only removers set `REMOVED`, and only under `registry`: check and set are one step.
            let first = entry.is_live();
            if first {
                // Relaxed: the acquire loads of `state` pair with the invocations' releases.
                entry.state.fetch_add(REMOVED, Ordering::Relaxed);
            } else {
                entry.other_removers.fetch_add(1, Ordering::Relaxed);
            }
            // The first remover of an idle entry: no other remover can have found it yet.
            let unlinked =
                first && entry.state.load(Ordering::Acquire) == REMOVED && nothing_to_retire();
            if unlinked {
                self.unlink(entry, &registry);
            }
            (ptr::from_ref(entry), first, unlinked)
        };
        // SAFETY: Only the first remover frees the node, after unlinking it under `registry`
        // with no other remover counted in `other_removers`; this one is, if it is not the first
        // (if the first unlinked the node at once, no other remover found it).
        let entry = unsafe { &*entry };
        // No new invocation starts. Outside the locks, tell lockdep that we wait for the running
        // ones (also when none is running: the wait is what lockdep checks).
        entry.wait_map.will_wait();
        if !unlinked {
            {
                let mut waits = self.waits.lock();
                while entry.state.load(Ordering::Acquire) != REMOVED {
                    self.idle.wait(&mut waits);
                }
                if !first {
                    entry.other_removers.fetch_sub(1, Ordering::Release);
                    self.idle.notify_all();
                    return false;
                }
            }
            retire();
            // Unlink once no other remover is counted; they are counted under `registry`. (New
            // removers of the id keep this going, as they keep a C caller of the id waiting.)
            loop {
                {
                    let registry = self.registry.lock();
                    if entry.other_removers.load(Ordering::Acquire) == 0 {
                        self.unlink(entry, &registry);
                        break;
                    }
                }
                let mut waits = self.waits.lock();
                while entry.other_removers.load(Ordering::Acquire) != 0 {
                    self.idle.wait(&mut waits);
                }
            }
        }
        // SAFETY: Unlinked, `REMOVED` with no invocation left, no other remover waiting, and
        // from `KBox`.
        unsafe { Self::free_unlinked(ptr::from_ref(entry).cast_mut()) };
        true
    }

    /// Unlinks `entry`, a node of the list.
    fn unlink(&self, entry: &CallbackEntry<H>, registry: &MutexGuard<'_, ()>) {
        let mut link = &self.head;
        for node in self.entries_locked(registry) {
            if ptr::eq(node, entry) {
                // INVARIANT: Unlinked under `registry`; readers see the list with or without it.
                link.store(entry.next.load(Ordering::Relaxed), Ordering::Release);
                return;
            }
            link = &node.next;
        }
    }

    /// Looks up `id` and starts an invocation of its callback.
    #[inline]
    pub fn invoke(&self, id: CbId) -> Option<Invocation<'_, H>> {
        let key = id_key(id);
        let rcu = rcu::read_lock();
        let entry = self.entries(&rcu).find(|e| id_key(e.id) == key)?;
        // Counted before the check: a remover that set `REMOVED` before our count waits for it
        // to go away again, one that sets it after waits for the invocation.
        if entry.state.fetch_add(1, Ordering::Acquire) & REMOVED != 0 {
            // SAFETY: A node of this queue, in which we hold the count taken just above; given
            // back inside the RCU section that found it, as `put` requires.
            unsafe { self.put(NonNull::from(entry)) };
            return None;
        }
        let entry = NonNull::from(entry);
        drop(rcu);
        // INVARIANT: Counted and not `REMOVED`: the remover waits for the count to drop before
        // it unlinks and frees the node, so it outlives the invocation, beyond the RCU section.
        let invocation = Invocation {
            queue: self,
            entry,
            _not_send: NotThreadSafe,
        };
        invocation.entry().wait_map.start();
        Some(invocation)
    }

    /// The group of the callback registered for `id`: its `idx`, as in C.
    pub fn group_of(&self, id: CbId) -> Option<u32> {
        let rcu = rcu::read_lock();
        let live = self.entries(&rcu).any(|e| e.id == id && e.is_live());
        live.then_some(id.idx)
    }

    /// Calls `f` for every registered entry (not those being removed), in registration order,
    /// under RCU: `f` must not sleep.
    pub fn for_each(&self, f: impl FnMut(&CallbackEntry<H>)) {
        let rcu = rcu::read_lock();
        self.entries(&rcu).filter(|e| e.is_live()).for_each(f);
    }
}

#[pinned_drop]
impl<H> PinnedDrop for CallbackQueue<H> {
    fn drop(self: Pin<&mut Self>) {
        // Nothing else can use the queue any more: free what is left.
        let mut next = self.head.load(Ordering::Relaxed);
        while !next.is_null() {
            // SAFETY: A node of the list (type invariant), no longer reachable by anybody.
            let mut entry = unsafe { KBox::from_raw(next) };
            next = entry.next.load(Ordering::Relaxed);
            // SAFETY: Dropped once, here; the node is freed with it.
            unsafe { ManuallyDrop::drop(&mut entry.wait_map) };
        }
    }
}
#[kunit_tests(cn_queue)]
mod tests {
    use super::*;

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
        assert!(q.remove(CbId::new(1, 2), || true, || ()));
        assert!(!q.remove(CbId::new(1, 2), || true, || ()));
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
        assert!(q.remove(
            id,
            || false,
            || {
                // While it is retired: not invocable, not listed, and not registrable again.
                assert!(q.invoke(id).is_none());
                assert_eq!(q.group_of(id), None);
                assert_eq!(ids(&q).len(), 0);
                assert_eq!(q.add(id, b"y", 2), Err(EINVAL));
                retired = true;
            }
        ));
        assert!(retired);
        // Complete: the id is free.
        q.add(id, b"y", 2).unwrap();
        assert_eq!(*q.invoke(id).unwrap().handler(), 2);
    }

    #[test]
    fn nothing_to_retire_skips_retire() {
        let q = queue();
        let id = CbId::new(5, 6);
        q.add(id, b"x", 1).unwrap();
        let mut retired = false;
        assert!(q.remove(id, || true, || retired = true));
        assert!(!retired);
        assert!(q.invoke(id).is_none());
        // The id is free again at once.
        q.add(id, b"y", 2).unwrap();
        assert!(q.remove(id, || false, || retired = true));
        assert!(retired);
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
    fn invocations_are_counted() {
        let q = queue();
        let id = CbId::new(7, 7);
        q.add(id, b"x", 77).unwrap();
        let running = q.invoke(id).unwrap();
        assert_eq!(running.entry().state.load(Ordering::Relaxed), 1);
        drop(running);
        let mut counts = KVec::new();
        q.for_each(|e| {
            counts
                .push(e.state.load(Ordering::Relaxed), GFP_ATOMIC)
                .unwrap()
        });
        assert_eq!(&counts[..], &[0]);
        // With nothing running, removal does not wait.
        assert!(q.remove(id, || true, || ()));
        assert!(q.invoke(id).is_none());
    }
}
