// SPDX-License-Identifier: GPL-2.0

//! Listeners in other namespaces: the views of the process events.
//!
//! A listener sees the events in the namespaces of the process that sent its `LISTEN`: its
//! active pid namespace and its user namespace, and the network namespace of its socket. Those
//! are its *view*: view 0 is the initial namespaces (the pids and ids of the C connector), and
//! each other triple of namespaces among the listeners has a slot of a small table ([`Table`], at
//! most [`MAX_VIEWS`]), held as long as a socket's subscription recorded it. Each event is built
//! once per view that has listeners ([`for_each_view`]), with the pids of its tasks in that
//! view's pid namespace and the ids in its user namespace ([`View`]), and is broadcast in that
//! view's network namespace to the listeners of that view only (the broadcast filter compares
//! views).
//!
//! The table changes only under a mutex, at requests and when subscriptions go (process
//! context). The probes, in atomic context, read what it publishes: which views have listeners
//! (one word) and, under the RCU read lock, each slot's namespaces. A slot is unpublished before
//! its namespaces are released, after a grace period; only then can the slot be taken again
//! (until then a probe may still send with that view id the events it built for the old
//! namespaces).

use crate::{
    connector_api::{Namespace, NamespaceRef},
    raw::{self, Account},
    Ids,
};
use core::{
    ptr::null_mut,
    sync::atomic::{AtomicPtr, AtomicU32, Ordering},
};
use kernel::{
    cred::Credential,
    pid_namespace::PidNamespace,
    prelude::*,
    sync::{aref::ARef, global_lock, rcu},
    task::{Pid, Task},
};

/// The most triples of namespaces other than the initial ones that subscriptions may be in at
/// once; a `LISTEN` from one more is refused with `ENOSPC`.
pub(crate) const MAX_VIEWS: usize = 16;

/// The most of those views one user may hold at once, so that one user cannot take them all from
/// the others' containers: a `LISTEN` that would hold one more is refused with `EDQUOT`. The
/// user is the one its sender acts for ([`raw::account`]: the owner of its container's user
/// namespace, or the container itself for one root made); senders with `CAP_NET_ADMIN` in the
/// initial user namespace have no limit.
pub(crate) const MAX_VIEWS_PER_USER: usize = 4;

/// A view: [`INITIAL`], or 1 + the slot of its namespaces in the [`Table`].
pub(crate) type ViewId = u32;

/// The view of the initial pid and user namespaces: host pids and ids, as in C.
pub(crate) const INITIAL: ViewId = 0;

/// A subscription's listening state in one word, so that a reader sees its view and whether it
/// listens from the same write: [`NOT_LISTENING`], or 1 + the view it listens in
/// ([`listening_in`], [`listening_view`]).
pub(crate) type Listening = u32;

/// The state of a socket that does not listen (and holds no view).
pub(crate) const NOT_LISTENING: Listening = 0;

/// The state of a socket that listens in `view`.
pub(crate) const fn listening_in(view: ViewId) -> Listening {
    view + 1
}

/// The view a socket in the state `state` listens in, `None` if it does not listen.
pub(crate) const fn listening_view(state: Listening) -> Option<ViewId> {
    state.checked_sub(1)
}

/// A subscriber's namespaces, held: its active pid namespace, its credentials, which hold its
/// user namespace, and its socket's network namespace; and the view's own sequence numbers.
pub(crate) struct Namespaces {
    pid_ns: ARef<PidNamespace>,
    cred: ARef<Credential>,
    net: NamespaceRef,
    /// Whom its view counts against, `None` for the host's administrator.
    user: Option<Account>,
    /// Per CPU: the sequence number of the view's next message on that CPU, changed only under
    /// that CPU's sequence lock (see [`View::next_seq`]). A view of its own: its listeners learn
    /// nothing from the numbers of the events they do not see. Empty until the view takes a slot
    /// ([`ViewKey::prepare`]).
    seq: KVec<AtomicU32>,
}

/// What the [`Table`] needs of a view's key.
pub(crate) trait ViewKey: PartialEq {
    /// Whom views count against.
    type User: PartialEq;

    /// Whom its view counts against ([`MAX_VIEWS_PER_USER`]) if a new slot is taken for it,
    /// `None` for one without a limit. A slot stays counted against whoever took it, whoever
    /// holds it later (keys in the initial user namespace, other than the administrator's, that
    /// share a network namespace: the same view for several uids).
    fn user(&self) -> Option<Self::User>;

    /// Completes a key that takes a new slot (what a key only compared does not need).
    fn prepare(&mut self) -> Result;
}

impl ViewKey for Namespaces {
    type User = Account;

    fn user(&self) -> Option<Account> {
        self.user
    }

    /// Allocates the view's sequence numbers.
    fn prepare(&mut self) -> Result {
        let cpus = kernel::cpu::nr_cpu_ids() as usize;
        let mut seq = KVec::with_capacity(cpus, GFP_KERNEL)?;
        for _ in 0..cpus {
            seq.push(AtomicU32::new(0), GFP_KERNEL)?;
        }
        self.seq = seq;
        Ok(())
    }
}

impl Namespaces {
    /// The current task's, with its socket in `net`; `None` if they are the initial ones. Their
    /// view has no per-user limit if `admin`.
    pub(crate) fn of_current(net: Namespace<'_>, admin: bool) -> Result<Option<Self>> {
        if raw::current_in_init_namespaces() && net.is_initial() {
            return Ok(None);
        }
        let pid_ns = kernel::current!().get_pid_ns().ok_or(ESRCH)?;
        let cred = raw::current_cred();
        let user = (!admin).then(|| raw::account(&cred));
        Ok(Some(Self {
            pid_ns,
            cred,
            net: net.get().ok_or(ESRCH)?,
            user,
            seq: KVec::new(),
        }))
    }
}

impl PartialEq for Namespaces {
    /// The same pid, user and network namespaces (other parts of the credentials do not count).
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.pid_ns.as_ptr(), other.pid_ns.as_ptr())
            && core::ptr::eq(raw::user_ns(&self.cred), raw::user_ns(&other.cred))
            && self.net.namespace() == other.net.namespace()
    }
}

/// The ids of a task in a pid namespace, `None` if it has no pid there (not visible from there):
/// the rule of `pid_nr_ns()`, which gives 0 then.
pub(crate) fn visible(pid: Pid, tgid: Pid) -> Option<Ids> {
    (pid != 0).then_some(Ids { pid, tgid })
}

/// The namespaces an event is built for.
#[derive(Clone, Copy)]
pub(crate) enum View<'a> {
    /// The initial ones: pids and ids as the kernel keeps them.
    Initial,
    /// A listener's.
    Of(&'a Namespaces),
}

impl View<'_> {
    /// The network namespace whose listeners get the view's events.
    pub(crate) fn net(&self) -> Namespace<'_> {
        match self {
            Self::Initial => Namespace::initial(),
            Self::Of(ns) => ns.net.namespace(),
        }
    }

    /// Takes the view's next sequence number on CPU `cpu`, whose sequence lock the caller holds
    /// and with it `initial`, the initial view's number on that CPU.
    pub(crate) fn next_seq(&self, cpu: usize, initial: &mut u32) -> u32 {
        match self {
            Self::Initial => {
                let seq = *initial;
                *initial = seq.wrapping_add(1);
                seq
            }
            // Only the holder of the CPU's lock changes the number: no read-modify-write race.
            Self::Of(ns) => ns
                .seq
                .get(cpu)
                .map_or(0, |seq| seq.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// The ids of `task`, or `None` if it is not visible in this view.
    pub(crate) fn ids(&self, task: &Task) -> Option<Ids> {
        match self {
            Self::Initial => Some(Ids::of(task)),
            Self::Of(ns) => visible(
                raw::task_pid_in(task, &ns.pid_ns),
                task.tgid_nr_ns(Some(&ns.pid_ns)),
            ),
        }
    }

    /// The ids of `task`'s real parent, or zeros if it is not visible in this view.
    pub(crate) fn parent_ids(&self, task: &Task) -> Ids {
        raw::with_real_parent(task, |parent| self.ids(parent)).unwrap_or(Ids::NONE)
    }

    /// The ids of the task with the initial-namespace ids `ids`, or `None` if there is no such
    /// task or it is not visible in this view.
    pub(crate) fn host_ids(&self, ids: Ids) -> Option<Ids> {
        match self {
            Self::Initial => Some(ids),
            Self::Of(ns) => visible(
                raw::host_pid_in(ids.pid, &ns.pid_ns),
                raw::host_pid_in(ids.tgid, &ns.pid_ns),
            ),
        }
    }

    /// A uid (as the initial user namespace sees it) as this view's user namespace sees it; the
    /// overflow uid if it is not mapped there (`from_kuid_munged()`).
    pub(crate) fn uid(&self, uid: u32) -> u32 {
        match self {
            Self::Initial => uid,
            Self::Of(ns) => raw::uid_in(&ns.cred, uid),
        }
    }

    /// A gid, as [`View::uid`] does for uids (`from_kgid_munged()`).
    pub(crate) fn gid(&self, gid: u32) -> u32 {
        match self {
            Self::Initial => gid,
            Self::Of(ns) => raw::gid_in(&ns.cred, gid),
        }
    }
}

/// A slot of the [`Table`]: a view's namespaces (boxed: the probes read them where they are).
struct Slot<K> {
    key: KBox<K>,
    /// The subscriptions that recorded it.
    holders: u32,
    /// Those of them that listen.
    listeners: u32,
    /// Released by its last holder: unpublished, neither matched nor taken until
    /// [`Table::reclaim`], after a grace period.
    retiring: bool,
}

/// The views of the subscriptions: the namespaces (keys `K`) of at most `N` views besides the
/// initial one, each held by the subscriptions that recorded it, and the listeners of each view.
pub(crate) struct Table<K, const N: usize> {
    slots: [Option<Slot<K>>; N],
    /// The listeners of the initial view.
    initial_listeners: u32,
}

impl<K: ViewKey, const N: usize> Table<K, N> {
    /// An empty table.
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { None }; N],
            initial_listeners: 0,
        }
    }

    /// Records one more holder of the view of `key`: its slot if it has one, else a new one.
    /// Errors: `EDQUOT` if its user holds [`MAX_VIEWS_PER_USER`] other views, `ENOSPC` if all `N`
    /// slots are taken by other keys, `ENOMEM`.
    pub(crate) fn hold(&mut self, mut key: K) -> Result<ViewId> {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| !s.retiring && *s.key == key))
        {
            if let Some(slot) = &mut self.slots[i] {
                slot.holders += 1;
            }
            return Ok(i as ViewId + 1);
        }
        if let Some(user) = key.user() {
            let held = self.slots.iter().flatten();
            let own = held.filter(|s| s.key.user().as_ref() == Some(&user));
            if own.count() >= MAX_VIEWS_PER_USER {
                return Err(EDQUOT);
            }
        }
        let free = self.slots.iter().position(Option::is_none).ok_or(ENOSPC)?;
        key.prepare()?;
        self.slots[free] = Some(Slot {
            key: KBox::new(key, GFP_KERNEL)?,
            holders: 1,
            listeners: 0,
            retiring: false,
        });
        Ok(free as ViewId + 1)
    }

    /// The slot of `view`, if it is one (and not retiring).
    fn slot(&mut self, view: ViewId) -> Option<&mut Slot<K>> {
        let i = usize::try_from(view).ok()?.checked_sub(1)?;
        self.slots.get_mut(i)?.as_mut().filter(|s| !s.retiring)
    }

    /// Gives back a hold of `view` (none for the initial view). When that was the last, the slot
    /// retires: it is unpublished at the next [`publish`] but stays taken; returns its index, to
    /// [`Table::reclaim`] after a grace period. Its listeners must have gone before.
    pub(crate) fn release(&mut self, view: ViewId) -> Option<usize> {
        let slot = self.slot(view)?;
        slot.holders -= 1;
        if slot.holders > 0 {
            return None;
        }
        slot.retiring = true;
        Some(view as usize - 1)
    }

    /// Frees the retired slot `i`, returning its namespaces: once no probe can read them any
    /// more (a grace period after it was unpublished).
    pub(crate) fn reclaim(&mut self, i: usize) -> Option<KBox<K>> {
        let slot = self.slots.get_mut(i)?;
        if !slot.as_ref().is_some_and(|s| s.retiring) {
            return None;
        }
        slot.take().map(|slot| slot.key)
    }

    /// One listener more (`listens`) or less in `view`.
    pub(crate) fn count(&mut self, view: ViewId, listens: bool) {
        let count = match view {
            INITIAL => &mut self.initial_listeners,
            _ => match self.slot(view) {
                Some(slot) => &mut slot.listeners,
                None => return,
            },
        };
        if listens {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
    }

    /// A subscription in the state `old` listens in the view of `from` (`None`: the initial
    /// namespaces): it holds that view and counts as one of its listeners, and no longer holds
    /// nor counts in its old view (the same view keeps one hold and one listener). Returns its new
    /// state and the slot it retired (see [`Table::release`]). Errors (as [`Table::hold`]) change
    /// nothing.
    pub(crate) fn listen(
        &mut self,
        old: Listening,
        from: Option<K>,
    ) -> Result<(Listening, Option<usize>)> {
        let view = match from {
            Some(key) => self.hold(key)?,
            None => INITIAL,
        };
        let retired = self.leave(old);
        self.count(view, true);
        Ok((listening_in(view), retired))
    }

    /// A subscription in the state `old` stops listening ([`NOT_LISTENING`] after): it no longer
    /// counts in its view nor holds it. Returns the slot it retired.
    pub(crate) fn leave(&mut self, old: Listening) -> Option<usize> {
        let view = listening_view(old)?;
        self.count(view, false);
        self.release(view)
    }

    /// The views with listeners: bit `v` for view `v`.
    pub(crate) fn active(&self) -> u32 {
        let slots = self.slots.iter().enumerate();
        let others = slots.filter(|(_, s)| s.as_ref().is_some_and(|s| s.listeners > 0));
        others.fold(u32::from(self.initial_listeners > 0), |bits, (i, _)| {
            bits | 1 << (i + 1)
        })
    }

    /// The listeners of all views.
    pub(crate) fn listeners(&self) -> i32 {
        let others = self.slots.iter().flatten().map(|s| s.listeners);
        (self.initial_listeners + others.sum::<u32>()) as i32
    }

    /// The namespaces of slot `i`, where the probes read them.
    fn key_ptr(&self, i: usize) -> *mut K {
        match self.slots.get(i) {
            Some(Some(slot)) if !slot.retiring => core::ptr::from_ref::<K>(&*slot.key).cast_mut(),
            _ => null_mut(),
        }
    }
}

// The views are one word of bits.
const _: () = assert!(MAX_VIEWS < u32::BITS as usize);

global_lock! {
    /// The views of the subscriptions; changed in process context only.
    pub(crate) unsafe(uninit) static VIEWS: Mutex<Table<Namespaces, MAX_VIEWS>> = Table::new();
}

/// What the probes read of [`VIEWS`]: the views with listeners (bits, see [`Table::active`]).
static ACTIVE: AtomicU32 = AtomicU32::new(0);

/// What the probes read of [`VIEWS`]: the namespaces of each slot, or null. A pointer unpublished
/// here stays valid until an RCU grace period has passed.
static PUBLISHED: [AtomicPtr<Namespaces>; MAX_VIEWS] =
    [const { AtomicPtr::new(null_mut()) }; MAX_VIEWS];

/// Publishes `table` (under [`VIEWS`]) to the probes: the slots' namespaces, the views with
/// listeners, and the number of listeners.
pub(crate) fn publish(table: &Table<Namespaces, MAX_VIEWS>) {
    for (i, published) in PUBLISHED.iter().enumerate() {
        published.store(table.key_ptr(i), Ordering::Release);
    }
    ACTIVE.store(table.active(), Ordering::Release);
    crate::LISTENERS.store(table.listeners(), kernel::sync::atomic::ordering::Relaxed);
}

/// Frees the slot that [`Table::release`] retired (if any), once it is unpublished: after a grace
/// period, since a probe may still read its namespaces or send with its view id; then the slot
/// may be taken again. Call without holding [`VIEWS`]. Sleeps.
pub(crate) fn free(retired: Option<usize>) {
    let Some(i) = retired else {
        return;
    };
    rcu::synchronize_rcu();
    let freed = VIEWS.lock().reclaim(i);
    drop(freed);
}

/// Every view, for [`for_each_view`].
pub(crate) const ALL_VIEWS: u32 = u32::MAX;

/// Calls `f` for each view of `views` (bit `v` for view `v`) with listeners, with its id: the
/// initial one first. Never sleeps.
pub(crate) fn for_each_view(views: u32, mut f: impl FnMut(View<'_>, ViewId)) {
    let active = ACTIVE.load(Ordering::Acquire) & views;
    if active & 1 != 0 {
        f(View::Initial, INITIAL);
    }
    if active <= 1 {
        return;
    }
    let _rcu = rcu::read_lock();
    for (i, published) in PUBLISHED.iter().enumerate() {
        if active & (1 << (i + 1)) == 0 {
            continue;
        }
        // SAFETY: A published pointer is null or the namespaces of a slot, freed only after they
        // were unpublished and a grace period passed (`free`), so not before `_rcu` is dropped.
        if let Some(ns) = unsafe { published.load(Ordering::Acquire).as_ref() } {
            f(View::Of(ns), i as ViewId + 1);
        }
    }
}

#[kunit_tests(cn_proc_ns)]
mod tests {
    use super::*;

    #[test]
    fn translation_rules() {
        // pid_nr_ns() gives 0 for a task without a pid in the namespace: not visible.
        assert_eq!(visible(0, 0), None);
        assert_eq!(visible(3, 1), Some(Ids { pid: 3, tgid: 1 }));
        // The initial view is the identity, for pids and ids.
        let current = kernel::current!();
        assert_eq!(View::Initial.ids(current), Some(Ids::of(current)));
        let host = Ids { pid: 7, tgid: 5 };
        assert_eq!(View::Initial.host_ids(host), Some(host));
        // A task is found again by its initial-namespace pid only if it started when it did
        // (not a later task with its pid).
        let started = raw::start_time(current);
        let again = |started| raw::with_host_task(current.pid(), started, Ids::of);
        assert_eq!(again(started), Some(Ids::of(current)));
        assert_eq!(again(started.wrapping_add(1)), None);
        for id in [0, 1000, 65534, u32::MAX] {
            assert_eq!(View::Initial.uid(id), id);
            assert_eq!(View::Initial.gid(id), id);
        }
    }

    #[test]
    fn views_are_counted_per_triple_of_namespaces() -> Result {
        let mut t = Table::<u32, 2>::new();
        assert_eq!((t.active(), t.listeners()), (0, 0));
        t.count(INITIAL, true);
        assert_eq!((t.active(), t.listeners()), (0b1, 1));
        // Two subscriptions of one key share its view; another key has another.
        let a = t.hold(10)?;
        assert_eq!(t.hold(10)?, a);
        let b = t.hold(20)?;
        assert!(a != INITIAL && b != INITIAL && a != b);
        // Holding is not listening.
        assert_eq!(t.active(), 0b1);
        t.count(a, true);
        t.count(a, true);
        assert_eq!((t.active(), t.listeners()), (0b1 | 1 << a, 3));
        // Full: a third key is refused, a known one is not.
        assert_eq!(t.hold(30), Err(ENOSPC));
        assert_eq!(t.hold(20)?, b);
        assert!(t.release(b).is_none());
        // The last hold frees the slot, which another key takes.
        t.count(a, false);
        t.count(a, false);
        t.count(INITIAL, false);
        assert_eq!((t.active(), t.listeners()), (0, 0));
        assert!(t.release(a).is_none());
        let retired = t.release(a);
        assert_eq!(retired, Some(a as usize - 1));
        // Retired, the slot is neither reused nor matched until it is reclaimed (after a grace
        // period): a probe may still send with its view id what it built for its namespaces.
        assert_eq!(t.hold(30), Err(ENOSPC));
        assert_eq!(t.hold(10), Err(ENOSPC));
        assert!(t.release(a).is_none());
        // Only a retired slot is reclaimed, once.
        assert!(t.reclaim(b as usize - 1).is_none());
        assert_eq!(t.reclaim(a as usize - 1).map(|k| *k), Some(10));
        assert!(t.reclaim(a as usize - 1).is_none());
        assert_eq!(t.hold(30)?, a);
        // The initial view holds nothing and counts no lower than 0.
        assert!(t.release(INITIAL).is_none());
        t.count(INITIAL, false);
        assert_eq!(t.listeners(), 0);
        Ok(())
    }

    /// Test keys: the hundreds are the user, 0 has no limit.
    impl ViewKey for u32 {
        type User = u32;

        fn user(&self) -> Option<u32> {
            Some(self / 100).filter(|&user| user != 0)
        }

        fn prepare(&mut self) -> Result {
            Ok(())
        }
    }

    #[test]
    fn one_user_holds_a_bounded_number_of_views() -> Result {
        let mut t = Table::<u32, { MAX_VIEWS_PER_USER + 3 }>::new();
        let mine: [ViewId; MAX_VIEWS_PER_USER] =
            [t.hold(100)?, t.hold(101)?, t.hold(102)?, t.hold(103)?];
        // One more of that user is refused; one it holds is not; others still get theirs.
        assert_eq!(t.hold(104), Err(EDQUOT));
        assert_eq!(t.hold(101)?, mine[1]);
        assert!(t.hold(200).is_ok());
        // Without a limit (the global root's), up to the table's size.
        assert!(t.hold(1).is_ok() && t.hold(2).is_ok());
        assert_eq!(t.hold(3), Err(ENOSPC));
        // A view given back (and reclaimed) makes room for another of that user.
        assert!(t.release(mine[0]).is_some_and(|i| t.reclaim(i).is_some()));
        assert!(t.hold(104).is_ok());
        Ok(())
    }

    #[test]
    fn the_listening_state_is_one_word() {
        // 0: not listening; else the view + 1, the initial view included.
        assert_eq!(NOT_LISTENING, 0);
        assert_eq!(listening_view(NOT_LISTENING), None);
        assert_eq!(listening_in(INITIAL), 1);
        for view in [INITIAL, 1, MAX_VIEWS as ViewId] {
            assert!(listening_in(view) != NOT_LISTENING);
            assert_eq!(listening_view(listening_in(view)), Some(view));
        }
    }

    #[test]
    fn a_subscription_moves_between_views() -> Result {
        let mut t = Table::<u32, 2>::new();
        // LISTEN from the initial namespaces: listens in the initial view, holds nothing.
        let (s, retired) = t.listen(NOT_LISTENING, None)?;
        assert_eq!((listening_view(s), retired), (Some(INITIAL), None));
        assert_eq!((t.active(), t.listeners()), (0b1, 1));
        // Then from namespaces A (fd passed, or the sender moved): the initial view loses it.
        let (s, retired) = t.listen(s, Some(10))?;
        let a = listening_view(s).ok_or(EINVAL)?;
        assert!(a != INITIAL && retired.is_none());
        assert_eq!((t.active(), t.listeners()), (1 << a, 1));
        // Again from A: the same view, one hold and one listener.
        let (again, retired) = t.listen(s, Some(10))?;
        assert_eq!((again, retired), (s, None));
        assert_eq!((t.active(), t.listeners()), (1 << a, 1));
        // Then from B: the view changes, A's slot is retired (its only holder moved on).
        let (s, retired) = t.listen(s, Some(20))?;
        let b = listening_view(s).ok_or(EINVAL)?;
        assert!(b != a && b != INITIAL);
        assert_eq!(retired, Some(a as usize - 1));
        assert_eq!((t.active(), t.listeners()), (1 << b, 1));
        // A LISTEN refused (no slot: A's still retiring) changes nothing.
        let other = t.listen(NOT_LISTENING, Some(30));
        assert!(matches!(other, Err(e) if e == ENOSPC));
        assert_eq!((t.active(), t.listeners()), (1 << b, 1));
        assert_eq!(t.reclaim(a as usize - 1).map(|k| *k), Some(10));
        // IGNORE (or the close): no view, no count, B's slot retired.
        assert_eq!(t.leave(s), Some(b as usize - 1));
        assert_eq!((t.active(), t.listeners()), (0, 0));
        assert_eq!(t.leave(NOT_LISTENING), None);
        assert_eq!(t.reclaim(b as usize - 1).map(|k| *k), Some(20));
        Ok(())
    }
}
