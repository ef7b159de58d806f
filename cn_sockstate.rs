// SPDX-License-Identifier: GPL-2.0

//! Per-socket state of the connector's Rust users, owned by the core.
//!
//! A callback may keep state per userspace socket that sends to it (the process events connector
//! keeps each listener's subscription): in the core's own table, not in `sk_user_data` (see
//! README.md, *Behaviour*), keyed by socket and owning callback id, tagged with the state's type.
//!
//! A state lives until its socket is released ([`SocketStates::release_socket`]) or its owner
//! unregisters ([`SocketStates::purge_owner`], after the owner's last invocation, while its id is
//! still taken). It is unlinked under the table's lock and dropped by its owner's drop function
//! after the lock is released, in process context; an owner's purge waits for the drops that
//! socket releases have in flight, so that none runs once its unregistration has returned.

use crate::connector_api::{CbId, StateDropFn};
use core::any::TypeId;
use kernel::{
    new_condvar, new_spinlock_irq,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        atomic::{ordering, Atomic},
        CondVar, SpinLockIrq,
    },
};

/// The table's key: the socket's address, then the owner's id (`CbId`'s derived order: a socket's
/// smallest key is `(sk, CbId::new(0, 0))`, where `release_socket` starts).
type Key = (usize, CbId);

/// One state.
///
/// # Invariants
///
/// `data` is a live state of the type `type_id`, owned by this slot, that `drop` (the owner's
/// `drop_state::<T>`) frees; `drop` stays callable while the slot exists (its owner id is
/// registered, and its purge waits for slots being dropped, see the module documentation).
struct Slot {
    type_id: TypeId,
    data: *mut c_void,
    drop: StateDropFn,
}

// SAFETY: States are `Send + Sync` (`connector_api.rs` attaches only such types), and the slot only
// hands out their address.
unsafe impl Send for Slot {}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: We own `data`, which `drop` frees, and may call it (type invariant).
        unsafe { (self.drop)(self.data) }
    }
}

/// The slots, and how many socket releases are dropping slots they unlinked.
#[derive(Default)]
struct Table {
    slots: RBTree<Key, Slot>,
    dropping: u32,
}

/// The core's table of per-socket states; its lock disables interrupts (filters run anywhere).
#[pin_data]
pub struct SocketStates {
    #[pin]
    table: SpinLockIrq<Table>,
    /// Signalled when the last release that was dropping slots is done.
    #[pin]
    dropped: CondVar,
    /// Whether the table has no slot and no release is dropping any: set under the lock after
    /// every change, read without it.
    idle: Atomic<bool>,
}

impl SocketStates {
    /// An empty table.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            table <- new_spinlock_irq!(Table::default(), "cn_socket_states"),
            dropped <- new_condvar!("cn_socket_states_dropped"),
            idle: Atomic::new(true),
        })
    }

    /// Publishes whether `table` is idle (see [`SocketStates::is_idle`]); under the lock.
    fn publish(&self, table: &Table) {
        let idle = table.slots.is_empty() && table.dropping == 0;
        self.idle.store(idle, ordering::Release);
    }

    /// Whether no socket has a state and no drop of one is in flight: then no owner has anything
    /// to purge. A `true` seen after an owner's last invocation ended is final for that owner,
    /// whose states are attached only by its invocations: it is only stored once every earlier
    /// state is dropped (release), and read with acquire.
    pub fn is_idle(&self) -> bool {
        self.idle.load(ordering::Acquire)
    }

    /// The state of `sk` owned by `owner`, if it has the type `type_id`; valid as long as the
    /// caller keeps the socket from being released and the owner from being unregistered.
    pub fn get(&self, sk: usize, owner: CbId, type_id: TypeId) -> Option<*mut c_void> {
        self.visit(sk, owner, type_id, |data| data)
    }

    /// Calls `f` with the state of `sk` owned by `owner` (if it has the type `type_id`) under the
    /// table's lock, which keeps it alive; `f` must not sleep nor call into the table.
    pub fn visit<R>(
        &self,
        sk: usize,
        owner: CbId,
        type_id: TypeId,
        f: impl FnOnce(Option<*mut c_void>) -> R,
    ) -> R {
        let table = self.table.lock();
        let data = table
            .slots
            .get(&(sk, owner))
            .filter(|slot| slot.type_id == type_id)
            .map(|slot| slot.data);
        f(data)
    }

    /// Attaches `data`, a state of type `type_id` freed by `drop`, to `sk` for `owner`, unless
    /// the socket already has a state of that owner. Returns the state now attached and whether
    /// it is `data` (the table owns it from now on) or the earlier one (`data` stays the
    /// caller's, as on errors: `EBUSY` if the earlier state has another type, `ENOMEM`).
    ///
    /// # Safety
    ///
    /// `data` is a live state of the type `type_id`, `Send` and `Sync`, that `drop` frees; `drop`
    /// stays callable until `owner` is purged.
    pub unsafe fn attach(
        &self,
        sk: usize,
        owner: CbId,
        type_id: TypeId,
        data: *mut c_void,
        drop: StateDropFn,
        flags: kernel::alloc::Flags,
    ) -> Result<(*mut c_void, bool)> {
        let reservation = RBTreeNodeReservation::new(flags)?;
        let mut table = self.table.lock();
        if let Some(slot) = table.slots.get(&(sk, owner)) {
            return (slot.type_id == type_id)
                .then_some((slot.data, false))
                .ok_or(EBUSY);
        }
        // INVARIANT: By the safety requirements.
        let slot = Slot {
            type_id,
            data,
            drop,
        };
        table.slots.insert(reservation.into_node((sk, owner), slot));
        self.publish(&table);
        Ok((data, true))
    }

    /// Drops every state of `sk`: the socket is being released. Process context.
    pub fn release_socket(&self, sk: usize) {
        let mut unlinked = RBTree::new();
        {
            let mut table = self.table.lock();
            while let Some(cursor) = table.slots.cursor_lower_bound_mut(&(sk, CbId::new(0, 0))) {
                if cursor.current().0 .0 != sk {
                    break;
                }
                unlinked.insert(cursor.remove_current().1);
            }
            if unlinked.is_empty() {
                return;
            }
            table.dropping += 1;
            self.publish(&table);
        }
        // The owners' drop functions, outside the lock; a purge of an owner waits for us.
        drop(unlinked);
        let mut table = self.table.lock();
        table.dropping -= 1;
        self.publish(&table);
        if table.dropping == 0 {
            self.dropped.notify_all();
        }
    }

    /// Drops every state of `owner`, after the drops of socket releases in flight: it is being
    /// unregistered and none of its invocations runs, so none attaches a new one. Process context.
    pub fn purge_owner(&self, owner: CbId) {
        let mut unlinked = RBTree::new();
        {
            let mut table = self.table.lock();
            let mut cursor = table.slots.cursor_front_mut();
            while let Some(current) = cursor {
                let (&(_, id), _) = current.current();
                cursor = if id == owner {
                    let (next, node) = current.remove_current();
                    unlinked.insert(node);
                    next
                } else {
                    current.move_next()
                };
            }
            self.publish(&table);
            while table.dropping != 0 {
                self.dropped.wait(&mut table);
            }
        }
        drop(unlinked);
    }
}

#[kunit_tests(cn_sockstate)]
mod tests {
    use super::*;

    static DROPPED: Atomic<u32> = Atomic::new(0);

    /// Drops a `KBox<u32>`, counting it.
    ///
    /// # Safety
    ///
    /// `data` came from `KBox::<u32>::into_raw` and is not used any more.
    unsafe extern "C" fn drop_u32(data: *mut c_void) {
        // SAFETY: The tests attach only `KBox<u32>` pointers.
        drop(unsafe { KBox::from_raw(data.cast::<u32>()) });
        DROPPED.fetch_add(1, ordering::Relaxed);
    }

    fn boxed(value: u32) -> *mut c_void {
        KBox::into_raw(KBox::new(value, GFP_KERNEL).unwrap()).cast()
    }

    fn value(states: &SocketStates, sk: usize, owner: CbId) -> Option<u32> {
        let data = states.get(sk, owner, TypeId::of::<u32>())?;
        // SAFETY: The tests' states are `u32`s, alive while in the table.
        Some(unsafe { *data.cast::<u32>() })
    }

    #[test]
    fn attach_get_release_purge() {
        let states = KBox::pin_init(SocketStates::new(), GFP_KERNEL).unwrap();
        let (a, b) = (CbId::new(1, 1), CbId::new(14, 0x456));
        let before = DROPPED.load(ordering::Relaxed);
        let attach = |sk, owner, v| {
            let data = boxed(v);
            // SAFETY: `data` is a `KBox<u32>`, freed by `drop_u32`, a function of this module.
            let got = unsafe {
                states.attach(sk, owner, TypeId::of::<u32>(), data, drop_u32, GFP_KERNEL)
            };
            if got != Ok((data, true)) {
                // Not taken: still ours.
                // SAFETY: As above.
                unsafe { drop_u32(data) };
            }
            got.is_ok()
        };
        assert!(attach(100, a, 1));
        assert!(attach(100, b, 2));
        assert!(attach(200, a, 3));
        // A second attach keeps the first state.
        assert!(attach(100, a, 4));
        assert_eq!(value(&states, 100, a), Some(1));
        assert_eq!(value(&states, 100, b), Some(2));
        assert_eq!(value(&states, 200, a), Some(3));
        assert_eq!(value(&states, 200, b), None);
        // Another type is neither found nor attachable over it.
        assert!(states.get(100, a, TypeId::of::<u64>()).is_none());
        let other = boxed(5);
        // SAFETY: `drop_u32` frees a `KBox<u32>`; the attach must fail and leave it to us.
        let refused =
            unsafe { states.attach(100, a, TypeId::of::<u64>(), other, drop_u32, GFP_KERNEL) };
        assert_eq!(refused, Err(EBUSY));
        // SAFETY: Not taken, still ours.
        unsafe { drop_u32(other) };
        assert_eq!(DROPPED.load(ordering::Relaxed) - before, 2);

        states.release_socket(100);
        assert_eq!(value(&states, 100, a), None);
        assert_eq!(value(&states, 100, b), None);
        assert_eq!(value(&states, 200, a), Some(3));
        assert_eq!(DROPPED.load(ordering::Relaxed) - before, 4);

        assert!(attach(300, b, 6));
        states.purge_owner(a);
        assert_eq!(value(&states, 200, a), None);
        assert_eq!(value(&states, 300, b), Some(6));
        assert_eq!(DROPPED.load(ordering::Relaxed) - before, 5);
        states.purge_owner(b);
        assert_eq!(DROPPED.load(ordering::Relaxed) - before, 6);
    }
}
