// SPDX-License-Identifier: GPL-2.0

//! Safe Rust API of the connector, for modules that register connector callbacks.
//!
//! A consumer module declares `pub mod connector_api;` in its crate root (this file sits beside
//! it) and links against the exports of `connector.ko`. It needs no `unsafe`: the only
//! `unsafe` code is here, at the boundary to the C ABI of `include/linux/connector.h`.
//!
//! # Examples
//!
//! ```ignore
//! use connector_api::{CbId, Callback, Destination, Message, Registration, Sender, Sleep};
//! use kernel::sync::{atomic::{ordering::Relaxed, Atomic}, Arc};
//!
//! struct Echo {
//!     answered: Atomic<u32>,
//! }
//!
//! impl Callback for Echo {
//!     fn receive(&self, msg: &Message<'_>, sender: &Sender<'_>) {
//!         let reply = msg.reply(msg.data());
//!         if reply.send(Destination::Port(sender.portid()), Sleep::MayBlock).is_ok() {
//!             self.answered.fetch_add(1, Relaxed);
//!         }
//!     }
//! }
//!
//! let echo = Arc::new(Echo { answered: Atomic::new(0) }, GFP_KERNEL)?;
//! let registration = Registration::new(CbId::new(15, 1), c"echo", echo)?;
//! // ... messages for {15, 1} now reach `Echo::receive` ...
//! drop(registration); // returns once no `Echo::receive` is running any more
//! ```
//!
//! Beyond plain messages: a callback may keep per-socket state for the sending socket in the
//! core ([`Sender::attach_socket_state`], [`SocketState`]), and a broadcast may be filtered per
//! destination socket by a [`Filter`], which sees that state. Sending allocates nothing but the
//! socket buffer, so it suits hot paths such as tracepoint probes.
//!
//! Network namespaces: the connector has a socket in each. A callback gets the messages of the
//! initial namespace only, as C callbacks do, unless registered with [`Namespaces::All`]
//! ([`Registration::new_in`]); it then sees the sender's namespace ([`Sender::net`]) and answers
//! through it: [`Message::reply`] does, [`Outgoing::send_in`] for other messages. Sending
//! without a namespace sends in the initial one.

use core::{any::TypeId, marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    sync::Arc,
    transmute::{AsBytes, FromBytes},
};

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
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
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

// SAFETY: Integers only, without padding (20 bytes: two `u32` of `CbId`, two `u32`, two `u16`):
// every bit pattern is valid.
unsafe impl FromBytes for CnMsg {}
// SAFETY: As above: no padding, so every byte is initialised.
unsafe impl AsBytes for CnMsg {}

/// The C type of a connector callback.
pub type RawCallback = unsafe extern "C" fn(*mut CnMsg, *mut bindings::netlink_skb_parms);

/// What the core hands to a callback registered from Rust ([`Registration`]): the message, its
/// sender and where it stands in its datagram.
#[repr(C)]
pub struct Delivery {
    /// The id the callback is registered for, which the message was routed by.
    pub id: CbId,
    /// The `cn_msg`, followed by its `len` bytes of data.
    pub msg: *mut CnMsg,
    /// The sender's netlink parameters.
    pub parms: *mut bindings::netlink_skb_parms,
    /// Whether no later message of the same datagram goes to this callback.
    pub last_of_datagram: bool,
    /// The sender's network namespace, held by the sending socket.
    pub net: *mut bindings::net,
}

/// The C type of a callback registered from Rust: called with the context pointer it was
/// registered with and the delivery.
pub type DeliveryCallback = unsafe extern "C" fn(*const c_void, *const Delivery);

/// The C type of the function that frees a per-socket state (see [`SocketState`]).
pub type StateDropFn = unsafe extern "C" fn(*mut c_void);

/// The C type of the function that [`cn_sock_state_visit`] calls with a state (or null).
pub type StateVisitFn = unsafe extern "C" fn(*const c_void, *mut c_void) -> c_int;

// The C ABI of `connector.ko` (and of the in-tree `cn.ko`), from `include/linux/connector.h`.
extern "C" {
    pub(crate) fn cn_del_callback(id: *const CbId);
}

// The exports of `connector.ko` for its Rust users: registration of a callback with its data,
// sending a header and data that never waits, the core's table of per-socket states
// (`cn_sockstate.rs`) and references on network namespaces. Only pointers to `struct net` cross,
// whose bindgen layout the lint flags for an array member of no concern here.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn cn_rust_send_in(
        net: *mut bindings::net,
        header: *const CnMsg,
        data: *const u8,
        len: usize,
        portid: u32,
        group: u32,
        gfp_mask: bindings::gfp_t,
        filter: bindings::netlink_filter_fn,
        filter_data: *mut c_void,
    ) -> c_int;
    pub(crate) fn cn_add_rust_callback_in(
        id: *const CbId,
        name: *const c_char,
        callback: Option<DeliveryCallback>,
        ctx: *const c_void,
        all_namespaces: bool,
    ) -> c_int;
    pub(crate) fn cn_sock_state_get(
        sk: *mut bindings::sock,
        owner: *const CbId,
        type_id: *const c_void,
    ) -> *mut c_void;
    pub(crate) fn cn_sock_state_attach(
        sk: *mut bindings::sock,
        owner: *const CbId,
        type_id: *const c_void,
        data: *mut c_void,
        drop: Option<StateDropFn>,
        gfp: bindings::gfp_t,
        attached: *mut *mut c_void,
    ) -> c_int;
    pub(crate) fn cn_sock_state_visit(
        sk: *mut bindings::sock,
        owner: *const CbId,
        type_id: *const c_void,
        visit: Option<StateVisitFn>,
        ctx: *mut c_void,
    ) -> c_int;
    pub(crate) fn cn_maybe_get_net(net: *mut bindings::net) -> bool;
    pub(crate) fn cn_put_net(net: *mut bindings::net);
}

/// A network namespace, borrowed: that of a message's sender, or the initial one.
///
/// # Invariants
///
/// `net` is a live network namespace for `'a`.
#[derive(Clone, Copy)]
pub struct Namespace<'a> {
    net: NonNull<bindings::net>,
    _lifetime: PhantomData<&'a bindings::net>,
}

impl Namespace<'static> {
    /// The initial network namespace, where C users of the connector live.
    pub fn initial() -> Self {
        // INVARIANT: `init_net` is a static object, never torn down.
        Self {
            // SAFETY: The address of a static is not null.
            net: unsafe { NonNull::new_unchecked(&raw mut bindings::init_net) },
            _lifetime: PhantomData,
        }
    }
}

impl Namespace<'_> {
    /// Whether this is the initial network namespace.
    pub fn is_initial(self) -> bool {
        self == Namespace::initial()
    }

    /// The namespace's inode number: what `readlink /proc/PID/ns/net` shows, `net:[INODE]`.
    pub fn inode(self) -> u32 {
        // SAFETY: `net` is live (type invariant); `ns.inum` is set before the namespace is in
        // use and never changes.
        unsafe { (*self.net.as_ptr()).ns.inum }
    }

    /// Takes a reference on the namespace, to send in it later; `None` if it is already being
    /// torn down (its last reference is gone: no user socket is left in it). While held, the
    /// namespace is not torn down: hold it no longer than what it is for (typically, a
    /// listener).
    pub fn get(self) -> Option<NamespaceRef> {
        // SAFETY: `net` is live (type invariant): its memory is valid, whatever its count.
        let taken = unsafe { cn_maybe_get_net(self.net.as_ptr()) };
        // INVARIANT: Taken if `taken`.
        taken.then_some(NamespaceRef { net: self.net })
    }
}

impl PartialEq for Namespace<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.net == other.net
    }
}

impl Eq for Namespace<'_> {}

/// A reference on a network namespace, dropped with this object.
///
/// # Invariants
///
/// `net` is a network namespace on which this object holds a reference.
pub struct NamespaceRef {
    net: NonNull<bindings::net>,
}

// SAFETY: A reference may be dropped from any thread.
unsafe impl Send for NamespaceRef {}
// SAFETY: `&NamespaceRef` only reads the namespace, which is thread-safe.
unsafe impl Sync for NamespaceRef {}

impl NamespaceRef {
    /// The namespace, alive while the reference is.
    pub fn namespace(&self) -> Namespace<'_> {
        // INVARIANT: Held (type invariant), so live while `self` is borrowed.
        Namespace {
            net: self.net,
            _lifetime: PhantomData,
        }
    }
}

impl Drop for NamespaceRef {
    fn drop(&mut self) {
        // SAFETY: The reference is held (type invariant) and dropped once, here; any context.
        unsafe { cn_put_net(self.net.as_ptr()) };
    }
}

/// The network namespaces whose messages a callback gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespaces {
    /// The initial namespace only, as callbacks registered from C.
    Initial,
    /// Every namespace: the callback answers in the sender's ([`Sender::net`]).
    All,
}

/// A received connector message: the `cn_msg` header and its data, from the network namespace
/// `net`.
///
/// # Invariants
///
/// `msg` points to a `cn_msg` followed by its `len` bytes of data, all valid for reads during
/// `'a` and not written to meanwhile.
pub struct Message<'a> {
    msg: NonNull<CnMsg>,
    last_of_datagram: bool,
    net: Namespace<'a>,
    _lifetime: PhantomData<&'a CnMsg>,
}

impl<'a> Message<'a> {
    /// Views a message handed to a callback by the connector core, the last one for the
    /// callback in its datagram if `last_of_datagram`, sent from the network namespace `net`.
    ///
    /// # Safety
    ///
    /// `msg` points to a `cn_msg` followed by `msg.len` bytes of data, all valid for reads and
    /// not written to during `'a`; `net` is live during `'a`.
    pub unsafe fn from_raw(
        msg: NonNull<CnMsg>,
        last_of_datagram: bool,
        net: NonNull<bindings::net>,
    ) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            msg,
            last_of_datagram,
            // INVARIANT: `net` is live during `'a`, by the safety requirements.
            net: Namespace {
                net,
                _lifetime: PhantomData,
            },
            _lifetime: PhantomData,
        }
    }

    fn header(&self) -> &'a CnMsg {
        // SAFETY: By the type invariant the header is valid for reads during `'a`.
        unsafe { self.msg.as_ref() }
    }

    /// The identifier the message was sent to.
    pub fn id(&self) -> CbId {
        self.header().id
    }

    /// The sender's sequence number.
    pub fn seq(&self) -> u32 {
        self.header().seq
    }

    /// The acknowledge number.
    pub fn ack(&self) -> u32 {
        self.header().ack
    }

    /// The message's flags.
    pub fn flags(&self) -> u16 {
        self.header().flags
    }

    /// The message's data.
    pub fn data(&self) -> &'a [u8] {
        let data = self.msg.as_ptr().wrapping_add(1).cast::<u8>();
        // SAFETY: By the type invariant, `len` bytes follow the header, in the same allocation
        // (`msg` has its provenance), valid for reads during `'a`.
        unsafe { core::slice::from_raw_parts(data, usize::from(self.header().len)) }
    }

    /// Whether no later message of the same datagram goes to this callback. A callback that
    /// answers every request with a broadcast answers only this one, so that a datagram packed
    /// with requests costs the listeners one message (the core hands at most
    /// `MAX_MSGS_PER_DATAGRAM` messages of a datagram to callbacks).
    pub fn is_last_of_datagram(&self) -> bool {
        self.last_of_datagram
    }

    /// Builds the reply that the connector protocol expects: same id and sequence number,
    /// acknowledge number plus one; sent in the message's network namespace.
    pub fn reply<'r>(&self, data: &'r [u8]) -> Reply<'r>
    where
        'a: 'r,
    {
        Reply {
            msg: Outgoing {
                id: self.id(),
                seq: self.seq(),
                ack: self.ack().wrapping_add(1),
                flags: 0,
                data,
            },
            net: self.net,
        }
    }
}

/// The reply to a received message ([`Message::reply`]): it goes through the connector socket of
/// the network namespace the message came from, where port ids and groups are those of its
/// sender.
pub struct Reply<'a> {
    msg: Outgoing<'a>,
    net: Namespace<'a>,
}

impl Reply<'_> {
    /// Sends the reply in the request's namespace, as [`Outgoing::send_in`] does.
    pub fn send(&self, to: Destination, sleep: Sleep) -> Result {
        self.msg.send_in(self.net, to, sleep)
    }
}

/// Who sent a message: the sender's netlink port and credentials (`struct netlink_skb_parms`),
/// seen by the callback registered for `owner`.
///
/// # Invariants
///
/// `parms` is valid for reads for `'a`. Its `sk` is null or the sending socket, which stays alive
/// for `'a`, as does `net`, the sender's network namespace. The callback registered for `owner`
/// stays registered for `'a` (the sender is seen during one of its invocations).
pub struct Sender<'a> {
    parms: NonNull<bindings::netlink_skb_parms>,
    owner: CbId,
    net: Namespace<'a>,
    _lifetime: PhantomData<&'a bindings::netlink_skb_parms>,
}

impl Sender<'_> {
    /// Views the sender parameters handed to the callback registered for `owner`, from a
    /// sender in the network namespace `net`.
    ///
    /// # Safety
    ///
    /// `parms` is valid for reads for the lifetime of the result, and its `sk` is null or the
    /// sending socket, alive for that lifetime (the core calls callbacks from the netlink input
    /// function, inside the sender's `sendmsg()`, which holds the socket), as is `net`; the
    /// result is used only during an invocation of the callback registered for `owner`.
    pub unsafe fn from_raw(
        parms: NonNull<bindings::netlink_skb_parms>,
        owner: CbId,
        net: NonNull<bindings::net>,
    ) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            parms,
            owner,
            net: Namespace {
                net,
                _lifetime: PhantomData,
            },
            _lifetime: PhantomData,
        }
    }

    fn parms(&self) -> &bindings::netlink_skb_parms {
        // SAFETY: By the type invariant `parms` is valid for reads.
        unsafe { self.parms.as_ref() }
    }

    /// The netlink port of the sending socket: the destination for a reply.
    pub fn portid(&self) -> u32 {
        self.parms().portid
    }

    /// The process id of the sender, as seen from the initial pid namespace.
    pub fn pid(&self) -> u32 {
        self.parms().creds.pid
    }

    /// The sender's user id (kernel-internal, i.e. in the initial user namespace).
    pub fn uid(&self) -> u32 {
        self.parms().creds.uid.val
    }

    /// The sender's group id (kernel-internal, i.e. in the initial user namespace).
    pub fn gid(&self) -> u32 {
        self.parms().creds.gid.val
    }

    /// Whether the sending socket had `CAP_NET_ADMIN` in the initial user namespace (false for a
    /// message that came from no socket).
    pub fn is_net_admin(&self) -> bool {
        if self.socket().is_none() {
            return false;
        }
        // SAFETY: `parms` is valid and its `sk` the live sending socket (type invariant), which
        // `__netlink_ns_capable()` reads; `init_user_ns` is a static object.
        unsafe {
            bindings::__netlink_ns_capable(
                self.parms.as_ptr(),
                &raw mut bindings::init_user_ns,
                bindings::CAP_NET_ADMIN as c_int,
            )
        }
    }

    /// The sending socket, if the message came from one.
    fn socket(&self) -> Option<NonNull<bindings::sock>> {
        NonNull::new(self.parms().sk)
    }
}

impl<'a> Sender<'a> {
    /// The sender's network namespace: where an answer goes ([`Outgoing::send_in`]). Always the
    /// initial one for a callback registered for [`Namespaces::Initial`].
    pub fn net(&self) -> Namespace<'a> {
        self.net
    }

    /// The sending socket's state of type `T`, if it has one (see [`SocketState`]).
    pub fn socket_state<T: SocketState>(&self) -> Option<&'a T> {
        let sk = self.socket()?;
        let type_id = TypeId::of::<T>();
        // SAFETY: `sk` is a live socket and `owner` a valid id, both valid for the call;
        // `type_id` is a `TypeId`, as the core expects.
        let data =
            unsafe { cn_sock_state_get(sk.as_ptr(), &self.owner, (&raw const type_id).cast()) };
        // SAFETY: A non-null result is a live `T` (its type was checked) that the core frees only
        // when the socket is released or the owner unregistered, neither of which happens during
        // `'a` (type invariant); it is only ever shared.
        unsafe { data.cast::<T>().as_ref() }
    }

    /// The sending socket's state of type `T`, attaching a new `T::default()` first if the
    /// socket has no state of this callback yet (see [`SocketState`]). Also returns whether this
    /// call attached it. Allocates as `sleep` says.
    ///
    /// Errors: `EINVAL` if the message came from no socket, `EBUSY` if the socket holds state of
    /// another type for this callback, `ENOMEM`.
    pub fn attach_socket_state<T: SocketState + Default>(
        &self,
        sleep: Sleep,
    ) -> Result<(&'a T, bool)> {
        let sk = self.socket().ok_or(EINVAL)?;
        if let Some(state) = self.socket_state::<T>() {
            return Ok((state, false));
        }
        // Charged to the sender's memory cgroup where the allocation may sleep.
        let (flags, gfp) = match sleep {
            Sleep::MayBlock => (
                kernel::alloc::flags::GFP_KERNEL_ACCOUNT,
                bindings::GFP_KERNEL_ACCOUNT,
            ),
            other => (other.alloc_flags(), other.raw_gfp()),
        };
        let new = KBox::into_raw(KBox::new(T::default(), flags)?).cast::<c_void>();
        let type_id = TypeId::of::<T>();
        let mut attached = core::ptr::null_mut();
        // SAFETY: `sk` is live and `owner` valid for the call; `new` is a live `KBox<T>` (`T` is
        // `Send + Sync`) that `drop_state::<T>` frees, which stays callable until the owner is
        // purged: this module holds a registration of `owner` (type invariant), whose drop
        // purges it before the module can go. `T`'s drop does not unregister callbacks (see
        // `SocketState`).
        let ret = unsafe {
            cn_sock_state_attach(
                sk.as_ptr(),
                &self.owner,
                (&raw const type_id).cast(),
                new,
                Some(drop_state::<T>),
                gfp,
                &mut attached,
            )
        };
        if ret != 1 {
            // Not taken (an error, or another sender on the same socket was first): still ours.
            // SAFETY: `new` came from `KBox::into_raw` above and the core did not keep it.
            drop(unsafe { KBox::<T>::from_raw(new.cast()) });
        }
        let taken = match ret {
            0 => false,
            1 => true,
            errno => return Err(Error::from_errno(errno)),
        };
        // SAFETY: `attached` is the socket's live `T` for this owner (the core checked the type),
        // alive for `'a` as in `socket_state`.
        let state = unsafe { &*attached.cast::<T>() };
        Ok((state, taken))
    }
}

/// Per-socket state of a connector callback, kept by the core for each userspace socket that
/// sends to the callback.
///
/// A callback attaches it to the socket that sent a message ([`Sender::attach_socket_state`]) and
/// finds it there again in later messages ([`Sender::socket_state`]) and in broadcast filters
/// ([`Filter::delivers`]). A socket holds at most one state per callback id, tagged with its
/// type: it is never seen as another type, and no other module can reach it (the core does not
/// use the socket's `sk_user_data`, which C modules may use as they please).
///
/// `T` is shared by the socket's senders and by filters running on any CPU, so it changes only
/// through interior mutability (atomics). It is dropped when the socket is released or when the
/// callback is unregistered, whichever comes first, in process context; its `Drop` must not
/// unregister a callback (the unregistration would wait for the drop). Dropping is where a state
/// undoes what it counts (the process events connector's listener count).
pub trait SocketState: Send + Sync + 'static {}

impl<T: Send + Sync + 'static> SocketState for T {}

/// Frees a state attached by [`Sender::attach_socket_state`].
///
/// # Safety
///
/// `data` came from `KBox::<T>::into_raw` and is not used any more.
unsafe extern "C" fn drop_state<T>(data: *mut c_void) {
    // SAFETY: By the safety requirements.
    drop(unsafe { KBox::<T>::from_raw(data.cast()) });
}

/// Decides, for each socket that a broadcast reaches, whether it gets the message: the safe form
/// of the C `netlink_filter_fn` that `cn_netlink_send_mult()` takes.
///
/// It runs in the sender's context, once per socket of the group, under netlink's broadcast
/// locks and the core's state lock (interrupts off): it must not sleep nor call into the
/// connector.
pub trait Filter {
    /// What the sender hands to every decision of one broadcast (the C `filter_data`).
    type Data: Sync;
    /// The per-socket state the decision reads (see [`SocketState`]).
    type State: SocketState;

    /// Whether a socket gets the message, given its state for the broadcasting callback, if it
    /// has one.
    fn delivers(state: Option<&Self::State>, data: &Self::Data) -> bool;
}

/// What a filtered broadcast hands to netlink as `filter_data`.
struct FilterContext<'a, D> {
    /// The callback id whose per-socket states the filter reads.
    owner: CbId,
    data: &'a D,
}

/// The C-ABI filter that netlink calls for a [`Filter`] `F`: non-zero drops the message.
///
/// # Safety
///
/// Called by netlink only, from a broadcast of the connector socket, with the destination socket
/// and the `filter_data` that [`Outgoing::broadcast_filtered`] passed: a
/// `&FilterContext<F::Data>`.
unsafe extern "C" fn filter<F: Filter>(
    dsk: *mut bindings::sock,
    _skb: *mut bindings::sk_buff,
    ctx: *mut c_void,
) -> c_int {
    if dsk.is_null() || ctx.is_null() {
        return 0;
    }
    // SAFETY: `ctx` is the `&FilterContext<F::Data>` of the running broadcast, valid during the
    // call.
    let ctx = unsafe { &*ctx.cast_const().cast::<FilterContext<'_, F::Data>>() };
    let type_id = TypeId::of::<F::State>();
    // SAFETY: Netlink holds the destination socket during the call; `owner` and `type_id` are
    // valid for the call; `visit::<F>` takes the `&F::Data` passed with it.
    unsafe {
        cn_sock_state_visit(
            dsk,
            &ctx.owner,
            (&raw const type_id).cast(),
            Some(visit::<F>),
            core::ptr::from_ref(ctx.data).cast_mut().cast(),
        )
    }
}

/// Applies the filter `F` to a socket's state (or null), under the core's state lock.
///
/// # Safety
///
/// `state` is null or a live `F::State`, not freed during the call; `data` is a `&F::Data` valid
/// during the call.
unsafe extern "C" fn visit<F: Filter>(state: *const c_void, data: *mut c_void) -> c_int {
    // SAFETY: By the safety requirements.
    let (state, data) = unsafe {
        (
            state.cast::<F::State>().as_ref(),
            &*data.cast_const().cast::<F::Data>(),
        )
    };
    c_int::from(!F::delivers(state, data))
}

/// A connector callback and its data: receives every message sent to the identifier it is
/// registered for ([`Registration`]).
///
/// It runs in the sender's process context, on any CPU, possibly for several senders at once
/// (hence `Sync`), never past the return of the drop of its [`Registration`].
pub trait Callback: Send + Sync + 'static {
    /// Handles one message.
    fn receive(&self, msg: &Message<'_>, sender: &Sender<'_>);
}

/// The C-ABI entry point the core calls for a callback of type `T`.
///
/// # Safety
///
/// `ctx` is the `T` of the [`Registration`] of the callback, alive during the call. `delivery`
/// points to a [`Delivery`] valid for the duration of the call, whose `msg` is a `cn_msg`
/// followed by its data and whose `parms` are the sender's parameters, valid with the sending
/// socket for the duration of the call, during an invocation of the callback registered for the
/// message's id. The core guarantees this.
unsafe extern "C" fn dispatch<T: Callback>(ctx: *const c_void, delivery: *const Delivery) {
    // SAFETY: `ctx` is the registration's live `T`, only ever shared; the core passes a valid
    // delivery.
    let (callback, delivery) = unsafe { (&*ctx.cast::<T>(), &*delivery) };
    let (Some(msg), Some(parms), Some(net)) = (
        NonNull::new(delivery.msg),
        NonNull::new(delivery.parms),
        NonNull::new(delivery.net),
    ) else {
        return;
    };
    // SAFETY: The core passes a complete message that stays valid during the call, written to by
    // nobody else, and the sender's namespace, held by the sending socket.
    let msg = unsafe { Message::from_raw(msg, delivery.last_of_datagram, net) };
    // SAFETY: The core passes `parms`, its socket and the namespace valid for the duration of the
    // call, which is an invocation of the callback registered for `delivery.id`.
    let sender = unsafe { Sender::from_raw(parms, delivery.id, net) };
    callback.receive(&msg, &sender);
}

/// A callback registered with the connector, with its data; unregistered when dropped.
///
/// # Invariants
///
/// `id` is registered with the core, with `dispatch::<T>` and the address of `data`'s `T`, for
/// the lifetime of this object.
pub struct Registration<T: Callback> {
    id: CbId,
    data: Arc<T>,
}

impl<T: Callback> Registration<T> {
    /// Registers `data` for messages sent to `id` from the initial network namespace, listed
    /// under `name` (at most 31 bytes are kept): each message is handed to `data.receive()`.
    ///
    /// Fails with `EINVAL` if `id` is already registered, `EAGAIN` if the core is not ready.
    /// May sleep.
    pub fn new(id: CbId, name: &CStr, data: Arc<T>) -> Result<Self> {
        Self::new_in(id, name, data, Namespaces::Initial)
    }

    /// As [`Registration::new`], for the messages from the network namespaces `namespaces`
    /// says; the callback is listed in the `/proc/net/connector` of each.
    pub fn new_in(id: CbId, name: &CStr, data: Arc<T>, namespaces: Namespaces) -> Result<Self> {
        // SAFETY: `id` and `name` are valid for the duration of the call; the core copies them.
        // `dispatch::<T>` matches `DeliveryCallback` and stays valid while this module is loaded,
        // which outlasts the registration as long as the registration is not leaked (as with
        // every kernel registration, a leaked one, e.g. by `mem::forget`, outlives its module);
        // the `T` it is given is kept alive by `data` until the drop has unregistered the
        // callback.
        to_result(unsafe {
            cn_add_rust_callback_in(
                &id,
                name.as_char_ptr(),
                Some(dispatch::<T>),
                Arc::as_ptr(&data).cast(),
                namespaces == Namespaces::All,
            )
        })?;
        // INVARIANT: Registered just now, with `data`'s `T`.
        Ok(Self { id, data })
    }

    /// The registered identifier.
    pub fn id(&self) -> CbId {
        self.id
    }

    /// The callback's data.
    pub fn data(&self) -> &Arc<T> {
        &self.data
    }
}

impl<T: Callback> Drop for Registration<T> {
    /// Unregisters the callback, waits for running invocations of it to finish, then drops the
    /// per-socket states it attached; the data goes after that. Sleeps, so it must not be
    /// dropped from inside the callback itself (lockdep reports it), under a lock the callback
    /// takes, or in atomic context.
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
    /// Process context without spinlocks held: `GFP_KERNEL`.
    MayBlock,
    /// Any context (softirq, timers, under spinlocks): `GFP_ATOMIC`.
    Atomic,
    /// Any context, without the atomic reserves: `GFP_NOWAIT`. For frequent messages
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
    /// Sending never waits for room at the receiver (whatever `sleep` says, which only picks the
    /// allocation mask): a socket whose receive buffer is full loses the message and sees
    /// `ENOBUFS` on its next read (so a sender that never reads cannot hold a callback, and with
    /// it the unloading of its module). The core builds the socket buffer from the header and
    /// `data` directly: no other allocation.
    ///
    /// Errors as the C `cn_netlink_send()`: `ENODEV` for [`Destination::Registered`] when no
    /// callback is registered for the id, `ESRCH` when nobody listens on the group, `ENOMEM`,
    /// and `EMSGSIZE` if the data does not fit in a connector message; for a port, `EAGAIN` when
    /// its buffer is full and `ECONNREFUSED` when it is gone.
    pub fn send(&self, to: Destination, sleep: Sleep) -> Result {
        self.send_in(Namespace::initial(), to, sleep)
    }

    /// As [`Outgoing::send`], through the connector socket of the network namespace `net`: to a
    /// port or the listeners of a group there. `ECONNREFUSED` if `net` is still being set up.
    pub fn send_in(&self, net: Namespace<'_>, to: Destination, sleep: Sleep) -> Result {
        let (portid, group) = match to {
            Destination::Registered => (0, 0),
            Destination::Group(group) => (0, group),
            Destination::Port(portid) => (portid, 0),
        };
        // SAFETY: No filter.
        unsafe { self.send_raw(net, portid, group, sleep, None, core::ptr::null_mut()) }
    }

    /// Broadcasts the message to `group` (`0`: the group of the callback registered for its id),
    /// to the sockets for which `F` decides so, given `filter_data` and the socket's state
    /// attached by the callback registered for the message's id.
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
        self.broadcast_filtered_in::<F>(Namespace::initial(), group, filter_data, sleep)
    }

    /// As [`Outgoing::broadcast_filtered`], to the listeners in the network namespace `net`.
    pub fn broadcast_filtered_in<F: Filter>(
        &self,
        net: Namespace<'_>,
        group: u32,
        filter_data: &F::Data,
        sleep: Sleep,
    ) -> Result {
        let ctx = FilterContext {
            owner: self.id,
            data: filter_data,
        };
        // SAFETY: `filter::<F>` matches `netlink_filter_fn` and is called only during the call,
        // with `ctx`, a `FilterContext<F::Data>` that outlives it.
        unsafe {
            self.send_raw(
                net,
                0,
                group,
                sleep,
                Some(filter::<F>),
                core::ptr::from_ref(&ctx).cast_mut().cast(),
            )
        }
    }

    /// Sends the message's header and data through the core's socket in `net`, with the routing
    /// of the C `cn_netlink_send_mult()`, never waiting for room at a receiver.
    ///
    /// # Safety
    ///
    /// `filter`, if any, is safe to call with `filter_data` in the calling context.
    unsafe fn send_raw(
        &self,
        net: Namespace<'_>,
        portid: u32,
        group: u32,
        sleep: Sleep,
        filter: bindings::netlink_filter_fn,
        filter_data: *mut c_void,
    ) -> Result {
        let header = CnMsg {
            id: self.id,
            seq: self.seq,
            ack: self.ack,
            len: u16::try_from(self.data.len()).map_err(|_| EMSGSIZE)?,
            flags: self.flags,
        };
        // SAFETY: `net` is live during the call (`Namespace` invariant); `header` and the
        // `data.len()` bytes at `data` are valid for reads during the call, which only reads
        // them; `filter` by the safety requirements.
        to_result(unsafe {
            cn_rust_send_in(
                net.net.as_ptr(),
                &header,
                self.data.as_ptr(),
                self.data.len(),
                portid,
                group,
                sleep.raw_gfp(),
                filter,
                filter_data,
            )
        })
    }
}
