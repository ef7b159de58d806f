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
//!
//! Beyond plain messages: a callback may keep per-socket state in the sending socket
//! ([`Sender::attach_socket_state`]), and a broadcast may be filtered per destination socket by a
//! [`Filter`], which sees that state ([`Listener::socket_state`]). [`InlineMessage`] sends a
//! message built in place, without an allocation of its own, e.g. from a tracepoint probe.

use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, error::to_result, prelude::*};

use core::any::TypeId;

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
    fn cn_add_callback(
        id: *const CbId,
        name: *const c_char,
        callback: Option<RawCallback>,
    ) -> c_int;
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

// `cn_sock.c` of `connector.ko`: per-socket state lives in `sk_user_data` of `struct sock`, which
// the kernel crate sees as opaque.
extern "C" {
    fn cn_sock_user_data(sk: *mut bindings::sock) -> *mut c_void;
    fn cn_sock_attach_user_data(sk: *mut bindings::sock, data: *mut c_void) -> *mut c_void;
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
        let data = core::ptr::from_ref(self.header)
            .wrapping_add(1)
            .cast::<u8>();
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
/// `parms` is valid for reads for `'a`. Its `sk` is null or the sending socket, which stays alive
/// for `'a`.
pub struct Sender<'a> {
    parms: NonNull<bindings::netlink_skb_parms>,
    _lifetime: PhantomData<&'a bindings::netlink_skb_parms>,
}

impl Sender<'_> {
    /// Views the sender parameters handed to a callback by the connector core.
    ///
    /// # Safety
    ///
    /// `parms` is non-null and valid for reads for the lifetime of the result, and its `sk` is
    /// null or the sending socket, alive for that lifetime (the core calls callbacks from the
    /// netlink input function, inside the sender's `sendmsg()`, which holds the socket).
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

impl<'a> Sender<'a> {
    /// The sending socket, if the message came from one.
    fn socket(&self) -> Option<NonNull<bindings::sock>> {
        // SAFETY: By the type invariant `parms` is valid for reads.
        NonNull::new(unsafe { self.parms.as_ref().sk })
    }

    /// The sending socket's state of type `T`, if it has one (see [`SocketState`]).
    pub fn socket_state<T: Sync + 'static>(&self) -> Option<&'a T> {
        // SAFETY: By the type invariant the sending socket stays alive for `'a`, and with it its
        // state, which is only freed when the socket is released.
        unsafe { socket_state(self.socket()?) }
    }

    /// The sending socket's state of type `T`, attaching a new `T::default()` first if the
    /// socket has no state yet (see [`SocketState`]). Also returns whether this call attached it.
    ///
    /// Errors: `EINVAL` if the message came from no socket, `EBUSY` if the socket holds state of
    /// another type, `ENOMEM`. Allocates with `flags`.
    pub fn attach_socket_state<T: Default + Sync + 'static>(
        &self,
        flags: kernel::alloc::Flags,
    ) -> Result<(&'a T, bool)> {
        build_assert!(
            !core::mem::needs_drop::<T>(),
            "socket state is freed with kfree() and must not need dropping"
        );
        let sk = self.socket().ok_or(EINVAL)?;
        if let Some(state) = self.socket_state::<T>() {
            return Ok((state, false));
        }
        let new = KBox::into_raw(KBox::new(
            SocketState {
                type_id: TypeId::of::<T>(),
                value: T::default(),
            },
            flags,
        )?);
        // SAFETY: `sk` is alive (type invariant); `new` is an initialised `kmalloc` allocation
        // that the socket owns from now on if it takes it.
        let attached = unsafe { cn_sock_attach_user_data(sk.as_ptr(), new.cast()) };
        if attached == new.cast() {
            // SAFETY: The socket now owns `new`, which it frees only when it is released, after
            // `'a` (type invariant); nothing else frees or moves it.
            return Ok((unsafe { &(*new).value }, true));
        }
        // Another sender on the same socket was first: ours was never published.
        // SAFETY: `new` came from `KBox::into_raw` above and nobody else has seen it.
        drop(unsafe { KBox::from_raw(new) });
        // SAFETY: `attached` is the socket's state, alive for `'a` as above.
        unsafe { tagged_state(attached) }
            .map(|state| (state, false))
            .ok_or(EBUSY)
    }
}

/// Per-socket state of a connector user, kept in the `sk_user_data` of a userspace socket.
///
/// A callback attaches it to the socket that sent a message ([`Sender::attach_socket_state`]) and
/// finds it there again in later messages ([`Sender::socket_state`]) and in broadcast filters
/// ([`Listener::socket_state`]). A socket holds at most one state, tagged with its type: it is
/// never seen as another type. `T` is shared by the socket's senders and by filters running on any
/// CPU, so it changes only through interior mutability (atomics).
///
/// The state lives as long as the socket. The core frees it with `kfree()`, without dropping it,
/// when the socket is released (the C connector only does so for members of the process events
/// group and leaks it otherwise); so `T` must not need dropping (a build error otherwise).
///
/// # Invariants
///
/// The `sk_user_data` of a connector userspace socket is null or a `SocketState<T>` (for some
/// `T`) allocated with `kmalloc` by [`Sender::attach_socket_state`], initialised, and never moved
/// or freed before the socket is released. (So C users of the core leave `sk_user_data` alone.)
#[repr(C)]
pub struct SocketState<T> {
    type_id: TypeId,
    value: T,
}

/// The state of type `T` at `data` (a socket's `sk_user_data`), if it has that type.
///
/// # Safety
///
/// `data` is null or the `sk_user_data` of a connector userspace socket that stays alive for
/// `'a`.
unsafe fn tagged_state<'a, T: 'static>(data: *mut c_void) -> Option<&'a T> {
    let tag = NonNull::new(data.cast::<TypeId>())?;
    // SAFETY: By the invariant of `SocketState` a non-null `data` is an initialised
    // `SocketState<U>` for some `U`, and `repr(C)` puts its tag first in every such type, so `tag`
    // points to an initialised, aligned `TypeId`.
    if unsafe { *tag.as_ptr() } != TypeId::of::<T>() {
        return None;
    }
    // SAFETY: The tag says it is a `SocketState<T>`, which stays allocated as long as the socket,
    // for `'a` by the safety requirements; it is only ever shared.
    Some(unsafe { &(*data.cast::<SocketState<T>>()).value })
}

/// The state of type `T` attached to `sk`, if any.
///
/// # Safety
///
/// `sk` is a connector userspace socket that stays alive for `'a`, and whose state is not freed
/// during `'a`.
unsafe fn socket_state<'a, T: 'static>(sk: NonNull<bindings::sock>) -> Option<&'a T> {
    // SAFETY: `sk` is a live socket by the safety requirements.
    let data = unsafe { cn_sock_user_data(sk.as_ptr()) };
    // SAFETY: `data` is that socket's `sk_user_data`, alive for `'a` by the safety requirements.
    unsafe { tagged_state(data) }
}

/// A socket that a filtered broadcast is about to reach, as a [`Filter`] sees it.
///
/// # Invariants
///
/// `sk` is a connector userspace socket, alive for `'a`, whose state is not freed during `'a`.
pub struct Listener<'a> {
    sk: NonNull<bindings::sock>,
    _lifetime: PhantomData<&'a bindings::sock>,
}

impl<'a> Listener<'a> {
    /// Views a destination socket handed to a netlink broadcast filter.
    ///
    /// # Safety
    ///
    /// `sk` is a connector userspace socket that netlink is broadcasting to: it holds the socket
    /// and keeps it on the group's list for the lifetime of the result, and the core frees its
    /// state only after netlink took it off the lists.
    unsafe fn from_raw(sk: NonNull<bindings::sock>) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            sk,
            _lifetime: PhantomData,
        }
    }

    /// The socket's state of type `T`, if it has one (see [`SocketState`]).
    pub fn socket_state<T: Sync + 'static>(&self) -> Option<&'a T> {
        // SAFETY: By the type invariant.
        unsafe { socket_state(self.sk) }
    }
}

/// Decides, for each socket that a broadcast reaches, whether it gets the message: the safe form
/// of the C `netlink_filter_fn` that `cn_netlink_send_mult()` takes.
///
/// It runs in the sender's context, once per socket of the group, under netlink's broadcast
/// locks: it must not sleep.
pub trait Filter {
    /// What the sender hands to every decision of one broadcast (the C `filter_data`).
    type Data: Sync;

    /// Whether `listener` gets the message.
    fn delivers(listener: &Listener<'_>, data: &Self::Data) -> bool;
}

/// The C-ABI filter that netlink calls for a [`Filter`] `F`: non-zero drops the message.
///
/// # Safety
///
/// Called by netlink only, from a broadcast of the connector socket, with the destination socket
/// and the `filter_data` that [`InlineMessage::broadcast_filtered`] passed: a `&F::Data`.
unsafe extern "C" fn filter<F: Filter>(
    dsk: *mut bindings::sock,
    _skb: *mut bindings::sk_buff,
    data: *mut c_void,
) -> c_int {
    let (Some(sk), false) = (NonNull::new(dsk), data.is_null()) else {
        return 0;
    };
    // SAFETY: Netlink holds the destination socket during the call and broadcasts only to sockets
    // still on the group's list; the core's release hook frees a socket's state only after
    // `netlink_release()` removed it from the lists, which waits for running broadcasts.
    let listener = unsafe { Listener::from_raw(sk) };
    // SAFETY: `data` is the `&F::Data` of the running broadcast, valid during the call.
    let data = unsafe { &*data.cast_const().cast::<F::Data>() };
    c_int::from(!F::delivers(&listener, data))
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
/// `netlink_skb_parms`, both valid for the duration of the call, as is the sending socket in
/// `parms`. The core guarantees this.
unsafe extern "C" fn dispatch<T: Callback>(
    msg: *mut CnMsg,
    parms: *mut bindings::netlink_skb_parms,
) {
    // SAFETY: The core passes a complete message that stays valid during the call.
    let msg = unsafe { Message::from_raw(msg) };
    if parms.is_null() {
        return;
    }
    // SAFETY: Non-null, and the core passes `parms` and its socket valid for the duration of the
    // call.
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
        to_result(unsafe { cn_add_callback(&id, name.as_char_ptr(), Some(dispatch::<T>)) })?;
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
    /// Any context, without the atomic reserves: `GFP_NOWAIT`, never waits. For frequent messages
    /// that may rather be lost under memory pressure (the C process events connector's choice).
    NoWait,
}

impl Sleep {
    fn alloc_flags(self) -> kernel::alloc::Flags {
        match self {
            Sleep::MayBlock => GFP_KERNEL,
            Sleep::Atomic => GFP_ATOMIC,
            Sleep::NoWait => GFP_NOWAIT,
        }
    }

    fn raw_gfp(self) -> bindings::gfp_t {
        match self {
            Sleep::MayBlock => bindings::GFP_KERNEL,
            Sleep::Atomic => bindings::GFP_ATOMIC,
            Sleep::NoWait => bindings::GFP_NOWAIT,
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

/// A connector message with `N` bytes of data, built in place (e.g. on the stack), so that sending
/// it needs no allocation besides the socket buffer: for tracepoint probes and other hot paths.
///
/// Laid out like the C process events connector's buffer: 4 bytes of padding, then the `cn_msg`
/// header directly followed by the data, which so starts 8-byte aligned.
#[repr(C, align(8))]
pub struct InlineMessage<const N: usize> {
    _pad: u32,
    header: CnMsg,
    data: [u8; N],
}

const _: () = assert!(
    core::mem::offset_of!(InlineMessage<1>, header) == 4
        && core::mem::offset_of!(InlineMessage<1>, data) == 4 + CN_MSG_HDRLEN
        && core::mem::offset_of!(InlineMessage<1>, data) % 8 == 0
);

impl<const N: usize> InlineMessage<N> {
    /// A message to (or from) `id` with the given sequence and acknowledge numbers, flags and
    /// data. `N` is at most `u16::MAX` (a build error otherwise).
    pub fn new(id: CbId, seq: u32, ack: u32, flags: u16, data: [u8; N]) -> Self {
        build_assert!(N <= u16::MAX as usize, "connector message data too long");
        Self {
            _pad: 0,
            header: CnMsg {
                id,
                seq,
                ack,
                len: N as u16,
                flags,
            },
            data,
        }
    }

    /// The message's header.
    pub fn header(&self) -> &CnMsg {
        &self.header
    }

    /// The message's data.
    pub fn data(&self) -> &[u8; N] {
        &self.data
    }

    /// Broadcasts the message to `group` (`0`: the group of the callback registered for its id),
    /// to the sockets for which `F` decides so, given `filter_data`.
    ///
    /// Errors as [`Outgoing::send`]: `ESRCH` when nobody listens on the group (or the filter
    /// drops the message for every socket), `ENOMEM`, `ENODEV` for group `0` without a registered
    /// callback.
    pub fn broadcast_filtered<F: Filter>(
        &self,
        group: u32,
        filter_data: &F::Data,
        sleep: Sleep,
    ) -> Result {
        let msg = core::ptr::from_ref(self)
            .cast::<u8>()
            .wrapping_add(core::mem::offset_of!(Self, header))
            .cast::<CnMsg>();
        // SAFETY: `msg` points into `self` at the header, which is directly followed by its `len`
        // (`N`) bytes of data (checked above), valid for reads during the call; the core only
        // reads them. `filter::<F>` matches `netlink_filter_fn` and is called only during the
        // call, with `filter_data`, a `&F::Data` that outlives it.
        let ret = unsafe {
            cn_netlink_send_mult(
                msg.cast_mut(),
                self.header.len,
                0,
                group,
                sleep.raw_gfp(),
                Some(filter::<F>),
                core::ptr::from_ref(filter_data).cast_mut().cast(),
            )
        };
        to_result(ret.min(0))
    }
}
