// SPDX-License-Identifier: GPL-2.0

//! Safe Rust API of the connector, for modules that register connector callbacks.
//!
//! A consumer module declares `pub mod connector;` in its crate root (this file sits beside it)
//! and links against the exports of `connector_core.ko`. It needs no `unsafe`: the only
//! `unsafe` code is here, at the boundary to the C ABI of `include/linux/connector.h`.
//!
//! # Examples
//!
//! ```ignore
//! use connector::{CbId, Callback, Destination, Message, Registration, Sender, Sleep};
//!
//! struct Echo;
//!
//! impl Callback for Echo {
//!     fn receive(msg: &Message<'_>, sender: &Sender<'_>) {
//!         let reply = msg.reply(msg.data());
//!         let _ = reply.send(Destination::Port(sender.portid()), Sleep::MayBlock);
//!     }
//! }
//!
//! let registration = Registration::new::<Echo>(CbId::new(14, 0x456), c"echo")?;
//! // ... messages for {14, 0x456} now reach `Echo::receive` ...
//! drop(registration); // returns once no `Echo::receive` is running any more
//! ```

use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, error::to_result, prelude::*};

/// Connector index of the process events connector.
pub const CN_IDX_PROC: u32 = 0x1;
/// Connector value of the process events connector.
pub const CN_VAL_PROC: u32 = 0x1;
/// The highest connector index reserved for in-kernel users, plus one.
pub const CN_NETLINK_USERS: u32 = 11;
/// The largest `cn_msg` (header and data) the connector accepts from userspace.
pub const CONNECTOR_MAX_MSG_SIZE: usize = 16384;
/// The size of a callback name, including its terminating NUL.
pub const CN_CBQ_NAMELEN: usize = 32;
/// The number of netlink multicast groups of the connector socket.
pub const CN_GROUPS: u32 = CN_NETLINK_USERS + 0xf;
/// Size of the `struct cn_msg` header that precedes its data.
pub const CN_MSG_HDRLEN: usize = core::mem::size_of::<CnMsg>();

/// A connector user's identifier, `struct cb_id`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CbId {
    /// The index: also the netlink group that messages for this id are broadcast to.
    pub idx: u32,
    /// The value, distinguishing users that share an index.
    pub val: u32,
}

impl CbId {
    /// Creates an identifier.
    pub const fn new(idx: u32, val: u32) -> Self {
        Self { idx, val }
    }
}

/// The header of a connector message, `struct cn_msg`, without its trailing data.
///
/// In memory it is always followed by `len` bytes of data.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CnMsg {
    /// The destination (or source) callback.
    pub id: CbId,
    /// Sequence number, chosen by the sender.
    pub seq: u32,
    /// Acknowledge number: `ack + 1` of the request in a reply.
    pub ack: u32,
    /// Length of the data that follows this header.
    pub len: u16,
    /// Flags, free for the users' protocol.
    pub flags: u16,
}

const _: () = assert!(CN_MSG_HDRLEN == 20);

impl CnMsg {
    /// The header's bytes, as they go on the wire (native endian).
    pub fn to_bytes(&self) -> [u8; CN_MSG_HDRLEN] {
        let mut out = [0u8; CN_MSG_HDRLEN];
        out[0..4].copy_from_slice(&self.id.idx.to_ne_bytes());
        out[4..8].copy_from_slice(&self.id.val.to_ne_bytes());
        out[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        out[12..16].copy_from_slice(&self.ack.to_ne_bytes());
        out[16..18].copy_from_slice(&self.len.to_ne_bytes());
        out[18..20].copy_from_slice(&self.flags.to_ne_bytes());
        out
    }
}

/// The C type of a connector callback.
pub type RawCallback = unsafe extern "C" fn(*mut CnMsg, *mut bindings::netlink_skb_parms);

// The C ABI of `connector_core.ko` (and of the in-tree `cn.ko`), from `include/linux/connector.h`.
extern "C" {
    fn cn_add_callback(id: *const CbId, name: *const c_char, callback: Option<RawCallback>)
        -> c_int;
    fn cn_del_callback(id: *const CbId);
    fn cn_netlink_send_mult(
        msg: *mut CnMsg,
        len: u16,
        portid: u32,
        group: u32,
        gfp_mask: bindings::gfp_t,
        filter: bindings::netlink_filter_fn,
        filter_data: *mut c_void,
    ) -> c_int;
}

/// A received connector message: the `cn_msg` header and its data.
///
/// # Invariants
///
/// `header` is followed in memory by `header.len` readable bytes, valid for `'a`.
pub struct Message<'a> {
    header: &'a CnMsg,
}

impl<'a> Message<'a> {
    /// Views a message handed to a callback by the connector core.
    ///
    /// # Safety
    ///
    /// `msg` points to a `cn_msg` followed by `msg.len` bytes of data, all valid for reads
    /// during `'a`.
    pub unsafe fn from_raw(msg: *const CnMsg) -> Self {
        // INVARIANT: By the safety requirements the data follows the header.
        Self {
            // SAFETY: By the safety requirements `msg` is valid for reads during `'a`.
            header: unsafe { &*msg },
        }
    }

    /// The identifier the message was sent to.
    pub fn id(&self) -> CbId {
        self.header.id
    }

    /// The sender's sequence number.
    pub fn seq(&self) -> u32 {
        self.header.seq
    }

    /// The acknowledge number.
    pub fn ack(&self) -> u32 {
        self.header.ack
    }

    /// The message's flags.
    pub fn flags(&self) -> u16 {
        self.header.flags
    }

    /// The message's data.
    pub fn data(&self) -> &'a [u8] {
        let data = core::ptr::from_ref(self.header).wrapping_add(1).cast::<u8>();
        // SAFETY: By the type invariant, `header.len` bytes follow the header and are valid for
        // reads during `'a`.
        unsafe { core::slice::from_raw_parts(data, usize::from(self.header.len)) }
    }

    /// Builds the reply that the connector protocol expects: same id and sequence number,
    /// acknowledge number plus one.
    pub fn reply<'d>(&self, data: &'d [u8]) -> Outgoing<'d> {
        Outgoing {
            id: self.id(),
            seq: self.seq(),
            ack: self.ack().wrapping_add(1),
            flags: 0,
            data,
        }
    }
}

/// Who sent a message: the sender's netlink port and credentials (`struct netlink_skb_parms`).
///
/// # Invariants
///
/// `parms` is valid for reads for `'a`.
pub struct Sender<'a> {
    parms: NonNull<bindings::netlink_skb_parms>,
    _lifetime: PhantomData<&'a bindings::netlink_skb_parms>,
}

impl Sender<'_> {
    /// Views the sender parameters handed to a callback by the connector core.
    ///
    /// # Safety
    ///
    /// `parms` is non-null and valid for reads for the lifetime of the result.
    pub unsafe fn from_raw(parms: *mut bindings::netlink_skb_parms) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            // SAFETY: Non-null by the safety requirements.
            parms: unsafe { NonNull::new_unchecked(parms) },
            _lifetime: PhantomData,
        }
    }

    /// The netlink port of the sending socket: the destination for a reply.
    pub fn portid(&self) -> u32 {
        // SAFETY: By the type invariant `parms` is valid for reads.
        unsafe { self.parms.as_ref().portid }
    }

    /// The process id of the sender, as seen from the initial pid namespace.
    pub fn pid(&self) -> u32 {
        // SAFETY: By the type invariant `parms` is valid for reads.
        unsafe { self.parms.as_ref().creds.pid }
    }

    /// The sender's user id (kernel-internal, i.e. in the initial user namespace).
    pub fn uid(&self) -> u32 {
        // SAFETY: By the type invariant `parms` is valid for reads.
        unsafe { self.parms.as_ref().creds.uid.val }
    }

    /// The sender's group id (kernel-internal, i.e. in the initial user namespace).
    pub fn gid(&self) -> u32 {
        // SAFETY: By the type invariant `parms` is valid for reads.
        unsafe { self.parms.as_ref().creds.gid.val }
    }

    /// Whether the sending socket had `CAP_NET_ADMIN` in the initial user namespace.
    pub fn is_net_admin(&self) -> bool {
        // SAFETY: `parms` is valid (type invariant) and `init_user_ns` is a static object.
        unsafe {
            bindings::__netlink_ns_capable(
                self.parms.as_ptr(),
                &raw mut bindings::init_user_ns,
                bindings::CAP_NET_ADMIN as c_int,
            )
        }
    }
}

/// A connector callback: receives every message sent to the identifier it is registered for.
///
/// It runs in the sender's process context, never concurrently with the dropping of its
/// [`Registration`] past that drop's return.
pub trait Callback {
    /// Handles one message.
    fn receive(msg: &Message<'_>, sender: &Sender<'_>);
}

/// The C-ABI entry point the core calls for a callback of type `T`.
///
/// # Safety
///
/// `msg` points to a `cn_msg` followed by its data and `parms` to the sender's
/// `netlink_skb_parms`, both valid for the duration of the call. The core guarantees this.
unsafe extern "C" fn dispatch<T: Callback>(
    msg: *mut CnMsg,
    parms: *mut bindings::netlink_skb_parms,
) {
    // SAFETY: The core passes a complete message that stays valid during the call.
    let msg = unsafe { Message::from_raw(msg) };
    if parms.is_null() {
        return;
    }
    // SAFETY: Non-null, and the core passes `parms` valid for the duration of the call.
    let sender = unsafe { Sender::from_raw(parms) };
    T::receive(&msg, &sender);
}

/// A callback registered with the connector; unregistered when dropped.
///
/// # Invariants
///
/// `id` is registered with the core for the lifetime of this object.
pub struct Registration {
    id: CbId,
}

impl Registration {
    /// Registers `T` for messages sent to `id`, listed under `name` (at most 31 bytes are kept).
    ///
    /// Fails with `EINVAL` if `id` is already registered, `EAGAIN` if the core is not ready.
    /// May sleep.
    pub fn new<T: Callback>(id: CbId, name: &CStr) -> Result<Self> {
        // SAFETY: `id` and `name` are valid for the duration of the call; the core copies them.
        // `dispatch::<T>` matches `RawCallback` and stays valid while this module is loaded,
        // which outlasts the registration (it is dropped at the latest when the module is).
        to_result(unsafe {
            cn_add_callback(&id, name.as_char_ptr(), Some(dispatch::<T>))
        })?;
        Ok(Self { id })
    }

    /// The registered identifier.
    pub fn id(&self) -> CbId {
        self.id
    }
}

impl Drop for Registration {
    /// Unregisters the callback and waits for running invocations of it to finish. Sleeps, so
    /// it must not be dropped from inside the callback itself or in atomic context.
    fn drop(&mut self) {
        // SAFETY: `id` is valid for the duration of the call and registered (type invariant).
        unsafe { cn_del_callback(&self.id) };
    }
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The group of the callback registered for the message's id (`ENODEV` if none is).
    Registered,
    /// Every socket listening on this netlink group.
    Group(u32),
    /// One netlink socket, e.g. the sender of a request.
    Port(u32),
}

/// Whether sending may sleep, and so which allocation mask it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sleep {
    /// Process context without spinlocks held: `GFP_KERNEL`, unicast may wait for room.
    MayBlock,
    /// Any context (softirq, timers, under spinlocks): `GFP_ATOMIC`, never waits.
    Atomic,
}

impl Sleep {
    fn alloc_flags(self) -> kernel::alloc::Flags {
        match self {
            Sleep::MayBlock => GFP_KERNEL,
            Sleep::Atomic => GFP_ATOMIC,
        }
    }

    fn raw_gfp(self) -> bindings::gfp_t {
        match self {
            Sleep::MayBlock => bindings::GFP_KERNEL,
            Sleep::Atomic => bindings::GFP_ATOMIC,
        }
    }
}

/// A message to send.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The identifier carried in the message (the destination callback for userspace).
    pub id: CbId,
    /// Sequence number; also used as the netlink sequence number.
    pub seq: u32,
    /// Acknowledge number.
    pub ack: u32,
    /// Message flags.
    pub flags: u16,
    /// The data; at most `u16::MAX` bytes.
    pub data: &'a [u8],
}

impl Outgoing<'_> {
    /// Sends the message.
    ///
    /// Errors as the C `cn_netlink_send()`: `ENODEV` for [`Destination::Registered`] when no
    /// callback is registered for the id, `ESRCH` when nobody listens on the group, `ENOMEM`,
    /// and `EMSGSIZE` if the data does not fit in a connector message.
    pub fn send(&self, to: Destination, sleep: Sleep) -> Result {
        let len = u16::try_from(self.data.len()).map_err(|_| EMSGSIZE)?;
        let header = CnMsg {
            id: self.id,
            seq: self.seq,
            ack: self.ack,
            len,
            flags: self.flags,
        };
        let mut buf = KVec::with_capacity(CN_MSG_HDRLEN + self.data.len(), sleep.alloc_flags())?;
        buf.extend_from_slice(&header.to_bytes(), sleep.alloc_flags())?;
        buf.extend_from_slice(self.data, sleep.alloc_flags())?;
        let (portid, group) = match to {
            Destination::Registered => (0, 0),
            Destination::Group(group) => (0, group),
            Destination::Port(portid) => (portid, 0),
        };
        // SAFETY: `buf` holds a `cn_msg` followed by `len` bytes of data, is suitably aligned
        // for `CnMsg` (kmalloc memory) and valid during the call; the core only reads it.
        let ret = unsafe {
            cn_netlink_send_mult(
                buf.as_mut_ptr().cast(),
                len,
                portid,
                group,
                sleep.raw_gfp(),
                None,
                core::ptr::null_mut(),
            )
        };
        to_result(ret.min(0))
    }
}
