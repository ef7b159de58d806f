// SPDX-License-Identifier: GPL-2.0

//! The connector core's kernel edge: the netlink kernel sockets (one per network namespace),
//! socket buffers and the `/proc/net` entries. Every call into netlink, skbuff, procfs and netns
//! C code is here; the rest of the core is safe Rust over these types. It knows netlink, not the
//! connector: a protocol implements [`NetlinkProtocol`], whose C hooks an adapter generates.
//! The static inlines the kernel crate does not bind (`nlmsg_put()`, `NETLINK_CB()`, ...) are
//! written here; fields of the opaque `struct sock` and macros are reached via `cn_helpers.c`.

use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ptr::NonNull,
    sync::atomic::{AtomicPtr, Ordering},
};
#[cfg(CONFIG_PROC_FS)]
use kernel::seq_file::SeqFile;
use kernel::{bindings, error::from_result, prelude::*, types::Opaque};

#[cfg(CONFIG_PROC_FS)]
extern "C" {
    // `include/linux/proc_fs.h` is not part of the kernel crate's bindings.
    fn proc_create_single_data(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut bindings::proc_dir_entry,
        show: Option<unsafe extern "C" fn(*mut bindings::seq_file, *mut c_void) -> c_int>,
        data: *mut c_void,
    ) -> *mut bindings::proc_dir_entry;
    fn remove_proc_entry(name: *const c_char, parent: *mut bindings::proc_dir_entry);
}

// Only pointers to `struct net` cross, whose bindgen layout the lint flags for an array member of
// no concern here.
#[allow(improper_ctypes)]
extern "C" {
    // `cn_helpers.c`: `struct sock` is opaque to the kernel crate, `cond_resched()` a macro,
    // `sock_net()` and `net_generic()` static inlines.
    fn cn_sock_kfree_user_data_if_member(
        sk: *mut bindings::sock,
        groups: *mut c_ulong,
        group: c_uint,
    );
    fn cn_sock_set_sndtimeo_ms(sk: *mut bindings::sock, ms: c_uint);
    fn cn_sock_net(sk: *const bindings::sock) -> *mut bindings::net;
    fn cn_net_generic(net: *const bindings::net, id: c_uint) -> *mut c_void;
    fn cn_cond_resched();
}

/// Rounds `len` up to the netlink alignment (`NLMSG_ALIGN()`).
pub const fn nlmsg_align(len: usize) -> usize {
    const MASK: usize = bindings::NLMSG_ALIGNTO as usize - 1;
    (len + MASK) & !MASK
}

/// `NLMSG_HDRLEN`: the aligned size of a netlink message header, where its payload starts.
pub const NLMSG_HDRLEN: usize = nlmsg_align(core::mem::size_of::<bindings::nlmsghdr>());

/// The longest a message to a port waits for room at its receiver, when its sender allows
/// waiting (C connector users passing a sleeping allocation mask): 1 s.
pub const UNICAST_WAIT_MS: u32 = 1000;

/// Whether an allocation mask allows sleeping (`gfpflags_allow_blocking()`).
pub fn gfp_allows_blocking(gfp: bindings::gfp_t) -> bool {
    gfp & (1 << bindings::___GFP_DIRECT_RECLAIM_BIT) != 0
}

/// Gives the CPU to other tasks if one is waiting (`cond_resched()`). Process context only.
pub fn cond_resched() {
    // SAFETY: The core calls it only from the netlink input function, which runs in the sending
    // task without locks held.
    unsafe { cn_cond_resched() }
}

/// A netlink protocol served by a [`KernelSocket`] in each network namespace: what its netlink
/// hooks do. They get no context pointer: a protocol that needs state reaches it through a static.
pub trait NetlinkProtocol: 'static {
    /// The netlink unit (protocol number).
    const UNIT: u32;
    /// The number of multicast groups.
    const GROUPS: u32;
    /// Where netlink keeps the index of the protocol's data in each namespace.
    const NET_ID: &'static NetId;

    /// The module the sockets' hooks belong to.
    fn module() -> &'static ThisModule;

    /// Handles a datagram that userspace sent to the kernel socket. Runs in the sending task's
    /// process context (inside its `sendmsg()`), without locks held.
    fn input(skb: &InSkb<'_>);

    /// Decides whether a socket of the protocol in `net` may join the multicast group `group`
    /// (1-based): `Ok` lets it, an error is what its `bind()` or `setsockopt()` returns.
    fn bind(net: Net<'_>, group: u32) -> Result;

    /// Cleans up after a socket of the protocol that is being released. Process context.
    fn release(sk: &ReleasedSocket<'_>);

    /// The name of the protocol's file in each namespace's `/proc/net`.
    #[cfg(CONFIG_PROC_FS)]
    const PROC_NAME: &'static CStr;

    /// Prints the protocol's `/proc/net` file, as seen in `net`, to `m`; an error is what the
    /// reader's `read()` returns.
    #[cfg(CONFIG_PROC_FS)]
    fn show(m: &SeqFile, net: Net<'_>) -> Result;
}

/// Generates the C hooks of a [`NetlinkProtocol`].
struct Adapter<T>(PhantomData<T>);

impl<T: NetlinkProtocol> Adapter<T> {
    /// The netlink input function.
    ///
    /// # Safety
    ///
    /// Called by netlink only, with the datagram it owns during the call.
    unsafe extern "C" fn input_callback(skb: *mut bindings::sk_buff) {
        let Some(skb) = NonNull::new(skb) else {
            return;
        };
        // SAFETY: Netlink passes the datagram to its input function; the view is dropped before
        // we return.
        let skb = unsafe { InSkb::from_raw(skb) };
        T::input(&skb);
    }

    /// The netlink bind hook: 0 or a negative errno.
    ///
    /// # Safety
    ///
    /// Called by netlink only, with the binding socket's namespace.
    unsafe extern "C" fn bind_callback(net: *mut bindings::net, group: c_int) -> c_int {
        let Some(net) = NonNull::new(net) else {
            return EINVAL.to_errno();
        };
        // SAFETY: Netlink passes the binding socket's namespace, valid during the call, which
        // the view does not outlive.
        let net = unsafe { Net::from_raw(net) };
        from_result(|| T::bind(net, u32::try_from(group).map_err(|_| EINVAL)?).map(|()| 0))
    }

    /// The netlink release hook.
    ///
    /// # Safety
    ///
    /// Called by netlink only, with a socket being released and its group bitmap or null.
    unsafe extern "C" fn release_callback(sk: *mut bindings::sock, groups: *mut c_ulong) {
        // INVARIANT: Netlink passes the socket being released, already off its lists, and its
        // groups, valid during the call, which the view does not outlive.
        let sk = ReleasedSocket {
            sk,
            groups,
            _lifetime: PhantomData,
        };
        T::release(&sk);
    }
}

/// A network namespace, borrowed: one that a socket or message belongs to.
///
/// # Invariants
///
/// `net` is a live network namespace for `'a`.
#[derive(Clone, Copy)]
pub struct Net<'a> {
    net: NonNull<bindings::net>,
    _lifetime: PhantomData<&'a bindings::net>,
}

impl Net<'static> {
    /// The initial network namespace, which lives as long as the kernel.
    #[inline]
    pub fn initial() -> Self {
        // INVARIANT: `init_net` is a static object, never torn down.
        Self {
            // SAFETY: The address of a static is not null.
            net: unsafe { NonNull::new_unchecked(&raw mut bindings::init_net) },
            _lifetime: PhantomData,
        }
    }
}

impl<'a> Net<'a> {
    /// Views a namespace.
    ///
    /// # Safety
    ///
    /// `net` is a live network namespace for `'a`.
    pub unsafe fn from_raw(net: NonNull<bindings::net>) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            net,
            _lifetime: PhantomData,
        }
    }

    /// The namespace's address, for C code (live for `'a`).
    #[inline]
    pub fn as_ptr(self) -> *mut bindings::net {
        self.net.as_ptr()
    }

    /// As [`Net::as_ptr`], not null.
    #[inline]
    pub fn as_non_null(self) -> NonNull<bindings::net> {
        self.net
    }

    /// Whether this is the initial network namespace.
    #[inline]
    pub fn is_initial(self) -> bool {
        core::ptr::eq(self.net.as_ptr(), &raw const bindings::init_net)
    }

    /// Whether the namespace's owner grants the calling task `CAP_NET_ADMIN`.
    pub fn net_admin_capable(self) -> bool {
        // SAFETY: `net` is live (type invariant), so is its owning `user_ns`.
        unsafe {
            bindings::ns_capable(
                (*self.net.as_ptr()).user_ns,
                bindings::CAP_NET_ADMIN as c_int,
            )
        }
    }

    /// The namespace's `/proc/net` directory.
    #[cfg(CONFIG_PROC_FS)]
    fn proc_net(self) -> *mut bindings::proc_dir_entry {
        // SAFETY: `net` is live (type invariant).
        unsafe { (*self.net.as_ptr()).proc_net }
    }
}

/// A socket of the protocol being released, borrowed for the release hook.
///
/// # Invariants
///
/// `sk` is a valid socket being released, already off netlink's lists, for `'a`; `groups` is
/// its group bitmap or null, valid for `'a`.
pub struct ReleasedSocket<'a> {
    sk: *mut bindings::sock,
    groups: *mut c_ulong,
    _lifetime: PhantomData<&'a bindings::sock>,
}

impl ReleasedSocket<'_> {
    /// The socket's identity: its address (`sk as usize`), which no other live socket has.
    pub fn key(&self) -> usize {
        self.sk as usize
    }

    /// Frees the socket's `sk_user_data` with `kfree()` and clears it, if the socket is a member
    /// of multicast group `group` (1-based).
    ///
    /// # Safety
    ///
    /// `group` is at most the protocol's number of multicast groups (the bitmap's size); the
    /// `sk_user_data` of a member of `group` is null or `kmalloc()`ed memory owned by the socket,
    /// which nobody uses once it is being released.
    pub unsafe fn kfree_user_data_if_member(&self, group: u32) {
        // SAFETY: `sk` and `groups` are valid (type invariant); what `sk_user_data` holds may be
        // freed by the safety requirements.
        unsafe { cn_sock_kfree_user_data_if_member(self.sk, self.groups, group) }
    }
}

/// A netlink kernel socket serving a protocol in one network namespace, owned.
///
/// # Invariants
///
/// `sock` is a kernel netlink socket from `__netlink_kernel_create()`, owned by this object.
pub struct KernelSocket {
    sock: NonNull<bindings::sock>,
}

// SAFETY: The socket is used only through netlink functions, which may be called from any thread.
unsafe impl Send for KernelSocket {}
// SAFETY: The netlink functions used through `&KernelSocket` synchronise internally.
unsafe impl Sync for KernelSocket {}

impl KernelSocket {
    /// Creates the kernel socket of protocol `T` in `net`, the initial namespace (the others'
    /// are [`PerNetSockets`]), whose hooks call those of `T`; messages to a port wait for room at
    /// most [`UNICAST_WAIT_MS`] (its send timeout). `EBUSY` if the unit already has a kernel
    /// socket there (e.g. the in-tree connector is loaded) or netlink could not allocate it (it
    /// does not say which).
    pub fn new<T: NetlinkProtocol>(net: Net<'static>) -> Result<Self> {
        // SAFETY: The initial namespace outlives every socket.
        unsafe { Self::create::<T>(net) }
    }

    /// As [`KernelSocket::new`], in any namespace.
    ///
    /// # Safety
    ///
    /// The socket is dropped before `net` goes.
    unsafe fn create<T: NetlinkProtocol>(net: Net<'_>) -> Result<Self> {
        let mut cfg = bindings::netlink_kernel_cfg {
            groups: T::GROUPS,
            flags: bindings::NL_CFG_F_NONROOT_RECV,
            input: Some(Adapter::<T>::input_callback),
            bind: Some(Adapter::<T>::bind_callback),
            unbind: None,
            release: Some(Adapter::<T>::release_callback),
        };
        // SAFETY: `net` is live, and outlives the socket by our safety requirements; `cfg` is
        // valid for the call and copied by netlink; the module outlives the socket (released in
        // `drop`, before the module's exit returns).
        let sock = unsafe {
            bindings::__netlink_kernel_create(
                net.as_ptr(),
                T::UNIT as c_int,
                T::module().as_ptr(),
                &mut cfg,
            )
        };
        // INVARIANT: A non-null result is a new kernel socket that we own.
        let sock = NonNull::new(sock).map(|sock| Self { sock }).ok_or(EBUSY)?;
        // SAFETY: `sock` is a valid socket, not yet used by anybody but us.
        unsafe { cn_sock_set_sndtimeo_ms(sock.sock.as_ptr(), UNICAST_WAIT_MS) };
        Ok(sock)
    }

    /// The socket, for sending.
    #[inline]
    pub fn socket(&self) -> NetlinkSocket<'_> {
        // INVARIANT: Owned by `self` (type invariant), so valid while borrowed.
        NetlinkSocket {
            sock: self.sock,
            _lifetime: PhantomData,
        }
    }
}

impl Drop for KernelSocket {
    fn drop(&mut self) {
        // SAFETY: We own the socket (type invariant) and release it exactly once.
        unsafe { bindings::netlink_kernel_release(self.sock.as_ptr()) };
    }
}

/// A netlink kernel socket, borrowed: what is sent through it.
///
/// # Invariants
///
/// `sock` is a valid kernel netlink socket for `'a`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NetlinkSocket<'a> {
    sock: NonNull<bindings::sock>,
    _lifetime: PhantomData<&'a bindings::sock>,
}

impl<'a> NetlinkSocket<'a> {
    /// The namespace the socket belongs to.
    pub fn net(self) -> Net<'a> {
        // SAFETY: `sock` is valid (type invariant). A kernel socket holds no reference on its
        // namespace: it is released by the namespace's exit (or before), so the namespace
        // outlives it, and so `'a`.
        unsafe { Net::from_raw(NonNull::new_unchecked(cn_sock_net(self.sock.as_ptr()))) }
    }

    /// Whether anybody listens on `group`, in any namespace (netlink keeps one count for all).
    #[inline]
    pub fn has_listeners(self, group: u32) -> bool {
        // SAFETY: `sock` is a valid kernel netlink socket (type invariant).
        unsafe { bindings::netlink_has_listeners(self.sock.as_ptr(), group) != 0 }
    }

    /// Broadcasts `skb` to `group`, except to `portid`, through `filter`. Errors as
    /// `netlink_broadcast_filtered()`: `ESRCH` if nobody got it, `ENOBUFS` if a listener lost it.
    ///
    /// # Safety
    ///
    /// `filter`, if any, is safe to call with `filter_data` from the calling context.
    #[inline]
    pub unsafe fn broadcast(
        self,
        skb: OutSkb,
        portid: u32,
        group: u32,
        gfp: bindings::gfp_t,
        filter: bindings::netlink_filter_fn,
        filter_data: *mut c_void,
    ) -> Result {
        // SAFETY: `sock` is valid (type invariant); the skb's ownership passes to netlink;
        // `filter` is safe to call by the safety requirements.
        let err = unsafe {
            bindings::netlink_broadcast_filtered(
                self.sock.as_ptr(),
                skb.into_raw(),
                portid,
                group,
                gfp,
                filter,
                filter_data,
            )
        };
        // `to_result()` is not inlined: this is the common case, without a call.
        if err >= 0 {
            Ok(())
        } else {
            Err(Error::from_errno(err))
        }
    }

    /// Sends `skb` to the socket bound to `portid`, waiting for room (at most [`UNICAST_WAIT_MS`])
    /// only if `may_wait`. Returns the bytes sent, or the error of `netlink_unicast()` (`EAGAIN`
    /// for a full receiver, `ECONNREFUSED` for no such port).
    ///
    /// # Safety
    ///
    /// `may_wait` only where sleeping is allowed.
    #[inline]
    pub unsafe fn unicast(self, skb: OutSkb, portid: u32, may_wait: bool) -> Result<u32> {
        // SAFETY: `sock` is valid (type invariant); the skb's ownership passes to netlink, which
        // sleeps only if `may_wait`, where that is allowed.
        let sent = unsafe {
            bindings::netlink_unicast(
                self.sock.as_ptr(),
                skb.into_raw(),
                portid,
                c_int::from(!may_wait),
            )
        };
        u32::try_from(sent).map_err(|_| Error::from_errno(sent))
    }
}

/// Where netlink keeps the index of a protocol's data in every network namespace
/// (`net_generic()`), which `register_pernet_subsys()` writes before it runs any hook.
pub struct NetId(UnsafeCell<c_uint>);

// SAFETY: Written only by `register_pernet_subsys()`, before any reader: the namespace hooks it
// runs after the write, and senders, which run after the registration returned; one registration
// at a time per id (`PerNetSockets::new`'s safety requirements).
unsafe impl Sync for NetId {}

impl NetId {
    /// An index to be assigned at registration.
    pub const fn new() -> Self {
        Self(UnsafeCell::new(0))
    }
}

impl Default for NetId {
    fn default() -> Self {
        Self::new()
    }
}

impl NetId {
    fn get(&self) -> c_uint {
        // SAFETY: Not written once readers run (see `Sync`).
        unsafe { *self.0.get() }
    }
}

/// What a protocol keeps in each network namespace but the initial one: its socket (null until
/// created) and whether its `/proc/net` file was created. Zeroed by netlink before the init hook.
#[repr(C)]
struct NetSlot {
    sock: AtomicPtr<bindings::sock>,
    #[cfg(CONFIG_PROC_FS)]
    proc: core::sync::atomic::AtomicBool,
}

/// The kernel sockets of protocol `T` in every network namespace but the initial one, created
/// with each namespace (and for those that exist at registration) and released with it; each
/// with its `/proc/net` file where procfs exists. Unregistered, releasing them all, on drop.
/// The initial namespace's socket is the protocol's own [`KernelSocket`], so that its creation
/// reports errors to the loader and its sends skip the lookup.
///
/// # Invariants
///
/// `ops` is registered as a pernet subsystem with the hooks of `Adapter<T>` and `T::NET_ID`.
#[pin_data(PinnedDrop)]
pub struct PerNetSockets<T: NetlinkProtocol> {
    #[pin]
    ops: Opaque<bindings::pernet_operations>,
    _protocol: PhantomData<T>,
}

// SAFETY: The registration is used only through `unregister_pernet_subsys()`, from any thread.
unsafe impl<T: NetlinkProtocol> Send for PerNetSockets<T> {}
// SAFETY: `&self` only looks up sockets, which is thread-safe.
unsafe impl<T: NetlinkProtocol> Sync for PerNetSockets<T> {}

impl<T: NetlinkProtocol> PerNetSockets<T> {
    /// Registers the hooks: creates a socket in each existing namespace but the initial one, and
    /// from now on in each new one. Their input may start at once.
    ///
    /// # Safety
    ///
    /// No other `PerNetSockets<T>` is registered meanwhile: the registration writes `T::NET_ID`,
    /// which the hooks and lookups of a registered one read without synchronisation.
    pub unsafe fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ops <- Opaque::try_ffi_init(|ops: *mut bindings::pernet_operations| {
                // SAFETY: `ops` is valid for writes and pinned; it stays registered until the
                // drop. `NET_ID` is a static.
                unsafe {
                    ops.write(bindings::pernet_operations {
                        init: Some(Adapter::<T>::net_init_callback),
                        exit: Some(Adapter::<T>::net_exit_callback),
                        id: T::NET_ID.0.get(),
                        size: core::mem::size_of::<NetSlot>(),
                        ..Default::default()
                    });
                    kernel::error::to_result(bindings::register_pernet_subsys(ops))
                }
                .inspect_err(|e| {
                    pr_err!("cannot create the sockets of netlink unit {} in the network namespaces: {e:?}\n", T::UNIT);
                })
            }),
            _protocol: PhantomData,
        })
    }

    /// The socket of the protocol in `net`, a namespace other than the initial one: none if it
    /// is the initial one, or is being set up and does not have its socket yet.
    pub fn get<'a>(&'a self, net: Net<'a>) -> Option<NetlinkSocket<'a>> {
        // SAFETY: The registration (type invariant) gave every live namespace its slot.
        let slot = unsafe { slot::<T>(net) };
        // INVARIANT: A socket in the slot lives until the exit hook runs for `net`: when `net` is
        // torn down, which cannot happen while it is live, or when `self` is dropped, which
        // cannot happen while it is borrowed.
        NonNull::new(slot.sock.load(Ordering::Acquire)).map(|sock| NetlinkSocket {
            sock,
            _lifetime: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T: NetlinkProtocol> PinnedDrop for PerNetSockets<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered (type invariant); the exit hooks run for every namespace before
        // this returns.
        unsafe { bindings::unregister_pernet_subsys(self.ops.get()) };
    }
}

/// The slot of protocol `T` in `net`.
///
/// # Safety
///
/// `T`'s [`PerNetSockets`] is registered.
unsafe fn slot<'a, T: NetlinkProtocol>(net: Net<'a>) -> &'a NetSlot {
    // SAFETY: `net` is live; with the subsystem registered, its data at `NET_ID` is a zeroed (or
    // since written) `NetSlot` that lives as long as `net`, only accessed atomically.
    unsafe { &*cn_net_generic(net.as_ptr(), T::NET_ID.get()).cast::<NetSlot>() }
}

impl<T: NetlinkProtocol> Adapter<T> {
    /// The pernet init hook: creates the socket (and `/proc/net` file) in a namespace other than
    /// the initial one. 0 or a negative errno, which fails the namespace's creation.
    ///
    /// # Safety
    ///
    /// Called by the pernet code only, with a namespace being set up and its zeroed slot.
    unsafe extern "C" fn net_init_callback(net: *mut bindings::net) -> c_int {
        let Some(net) = NonNull::new(net) else {
            return EINVAL.to_errno();
        };
        // SAFETY: The namespace is live until its exit hook returns, which the view does not
        // outlive.
        let net = unsafe { Net::from_raw(net) };
        if net.is_initial() {
            return 0;
        }
        // SAFETY: Called for a registered subsystem.
        let slot = unsafe { slot::<T>(net) };
        from_result(|| {
            // SAFETY: Released by the exit hook, which runs before `net` goes.
            let socket = core::mem::ManuallyDrop::new(unsafe { KernelSocket::create::<T>(net) }?);
            // Owned by the slot from here on: released by the exit hook.
            slot.sock.store(socket.sock.as_ptr(), Ordering::Release);
            #[cfg(CONFIG_PROC_FS)]
            // As in the initial namespace, the socket works without it. No log line: any user may
            // create namespaces.
            // SAFETY: Removed by the exit hook, which runs before `net` goes.
            if let Ok(entry) = unsafe { ProcNetEntry::create::<T>(net) } {
                core::mem::forget(entry);
                slot.proc.store(true, Ordering::Relaxed);
            }
            Ok(0)
        })
    }

    /// The pernet exit hook: removes what the init hook created.
    ///
    /// # Safety
    ///
    /// Called by the pernet code only, with a namespace being torn down, or with any namespace
    /// when the subsystem is unregistered (the protocol's module is going). Either way no user
    /// socket of the protocol is left in it (in the first case the namespace has no user socket
    /// at all; in the second each would hold a reference on the module), so its slot is not
    /// used by anybody else any more.
    unsafe extern "C" fn net_exit_callback(net: *mut bindings::net) {
        let Some(net) = NonNull::new(net) else {
            return;
        };
        // SAFETY: The namespace is live during the call, which the view does not outlive.
        let net = unsafe { Net::from_raw(net) };
        if net.is_initial() {
            return;
        }
        // SAFETY: Called for a registered subsystem.
        let slot = unsafe { slot::<T>(net) };
        #[cfg(CONFIG_PROC_FS)]
        if slot.proc.load(Ordering::Relaxed) {
            // SAFETY: The init hook created the entry and left it for us.
            drop(unsafe { ProcNetEntry::assume_created::<T>(net) });
        }
        if let Some(sock) = NonNull::new(slot.sock.swap(core::ptr::null_mut(), Ordering::Relaxed)) {
            // INVARIANT: The init hook created the socket and left it to the slot, now to us.
            drop(KernelSocket { sock });
        }
    }
}

/// Writes one `NLMSG_DONE` netlink message with sequence number `seq` and the `parts` one after
/// the other as payload (`payload_len` bytes in all) at `nlh`, padding included: the message's
/// `nlmsg_align(NLMSG_HDRLEN + payload_len)` bytes.
///
/// # Safety
///
/// `payload_len` is the sum of the parts' lengths, at most `c_int::MAX - NLMSG_HDRLEN - 3`; `nlh`
/// is valid for writes of the message's bytes, which no part overlaps.
#[inline(always)]
unsafe fn write_done<const N: usize>(
    nlh: *mut u8,
    payload_len: usize,
    seq: u32,
    parts: &[&[u8]; N],
) {
    let size = nlmsg_align(NLMSG_HDRLEN + payload_len);
    let header = bindings::nlmsghdr {
        nlmsg_len: (NLMSG_HDRLEN + payload_len) as u32,
        nlmsg_type: bindings::NLMSG_DONE as u16,
        nlmsg_flags: 0,
        nlmsg_seq: seq,
        nlmsg_pid: 0,
    };
    // SAFETY: By the safety requirements, in order: zeros in the last 4 bytes (the padding, at
    // most 3 bytes, is among them; `size >= NLMSG_HDRLEN >= 4`), the header, the parts, whose
    // lengths add up to `size - NLMSG_HDRLEN` at most.
    unsafe {
        nlh.add(size - 4).cast::<u32>().write_unaligned(0);
        nlh.cast::<bindings::nlmsghdr>().write_unaligned(header);
        let mut data = nlh.add(NLMSG_HDRLEN);
        for part in parts {
            core::ptr::copy_nonoverlapping(part.as_ptr(), data, part.len());
            data = data.add(part.len());
        }
    }
}

/// A socket buffer holding one netlink message on its way out; freed on drop unless sent.
///
/// # Invariants
///
/// `skb` is a linear socket buffer owned by this object.
pub struct OutSkb {
    skb: NonNull<bindings::sk_buff>,
}

impl OutSkb {
    /// Builds a buffer holding one `NLMSG_DONE` message with sequence number `seq`, the `parts`
    /// one after the other as payload, and `dst_group` in its control block (what `nlmsg_new()`,
    /// `nlmsg_put()` and copies build). `EMSGSIZE` if the payload is too large for netlink,
    /// `ENOMEM`.
    ///
    /// The header is written here rather than by `__nlmsg_put()`, which costs more than the rest
    /// of the building (about 40 instructions, and a `memset()` call for the padding): the buffer
    /// is new and sized for the message, so only `skb_put()` of the kernel is needed.
    #[inline]
    pub fn new_done<const N: usize>(
        seq: u32,
        parts: &[&[u8]; N],
        dst_group: u32,
        gfp: bindings::gfp_t,
    ) -> Result<Self> {
        // Saturating: an overflow is too large below, without a branch per part.
        let payload_len = parts
            .iter()
            .fold(0usize, |sum, part| sum.saturating_add(part.len()));
        // With the header and the alignment, at most `c_int::MAX`: fits the `u32` of
        // `nlmsg_len` and the `c_uint` of the allocator and of `skb_put()`.
        if payload_len > c_int::MAX as usize - NLMSG_HDRLEN - 3 {
            return Err(EMSGSIZE);
        }
        let size = nlmsg_align(NLMSG_HDRLEN + payload_len);
        // SAFETY: Plain allocation; any size and mask are accepted.
        let raw = unsafe { bindings::__alloc_skb(size as c_uint, gfp, 0, bindings::NUMA_NO_NODE) };
        // INVARIANT: A new linear skb, owned by us from here on (freed by `drop` on error).
        let skb = Self {
            skb: NonNull::new(raw).ok_or(ENOMEM)?,
        };
        // SAFETY: `skb` is new, with at least `size` bytes of tailroom, which `skb_put()` appends
        // to its data and returns.
        let nlh = unsafe { bindings::skb_put(skb.skb.as_ptr(), size as c_uint) }.cast::<u8>();
        // SAFETY: `nlh` is the start of `size` writable bytes, the message's, where nobody else
        // looks yet; `payload_len` is the parts' total, checked above.
        unsafe { write_done(nlh, payload_len, seq, parts) };
        // SAFETY: `skb` is valid; its control block holds the netlink parameters.
        unsafe { (*netlink_cb(skb.skb.as_ptr())).dst_group = dst_group };
        Ok(skb)
    }

    /// Gives up ownership, for a netlink function that consumes the buffer.
    #[inline]
    fn into_raw(self) -> *mut bindings::sk_buff {
        core::mem::ManuallyDrop::new(self).skb.as_ptr()
    }
}

impl Drop for OutSkb {
    fn drop(&mut self) {
        // SAFETY: We own the buffer (type invariant).
        unsafe { bindings::nlmsg_free(self.skb.as_ptr()) };
    }
}

/// `NETLINK_CB(skb)`: the netlink parameters kept in the skb's control block.
///
/// # Safety
///
/// `skb` is a valid socket buffer.
unsafe fn netlink_cb(skb: *mut bindings::sk_buff) -> *mut bindings::netlink_skb_parms {
    const _: () = assert!(
        core::mem::size_of::<bindings::netlink_skb_parms>() <= 48
            && core::mem::align_of::<bindings::netlink_skb_parms>() <= 8
    );
    // SAFETY: `skb` is valid; its 8-byte aligned, 48-byte `cb` holds the parameters.
    unsafe { (&raw mut (*skb).cb).cast() }
}

/// A datagram handed to a protocol's input function, borrowed for the duration of the call.
///
/// # Invariants
///
/// `skb` is a valid socket buffer from a netlink sender, owned by netlink and valid until the
/// input function returns, which `'a` does not outlive; its linear data is the `len` bytes at
/// `data`, which is 4-byte aligned if `len` is not 0 (`len` is 0 if the buffer is not linear or
/// its data not aligned, which netlink's buffers never are).
pub struct InSkb<'a> {
    skb: NonNull<bindings::sk_buff>,
    data: *mut u8,
    len: usize,
    _lifetime: PhantomData<&'a bindings::sk_buff>,
}

impl InSkb<'_> {
    /// Borrows the buffer passed to the input function.
    ///
    /// # Safety
    ///
    /// `skb` is the buffer netlink passed to the input function, and the result is dropped
    /// before the input function returns.
    unsafe fn from_raw(skb: NonNull<bindings::sk_buff>) -> Self {
        let raw = skb.as_ptr();
        // SAFETY: The buffer is valid by the safety requirements; without paged data
        // (`data_len == 0`) its `len` bytes lie at `data`.
        let (data, len) = unsafe {
            // Netlink's buffers are linear with aligned data; anything else is treated as empty.
            // One test for both: `data_len` is 0 and the address's low bits are 0.
            let data = (*raw).data;
            if (*raw).data_len | (data as usize as u32 & 3) != 0 {
                (data, 0)
            } else {
                (data, (*raw).len as usize)
            }
        };
        // INVARIANT: As established above.
        Self {
            skb,
            data,
            len,
            _lifetime: PhantomData,
        }
    }

    /// The datagram's bytes. The slice must not be held across a call of a callback given
    /// [`Self::payload_ptr`], which may write to the data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: `len` bytes lie at `data` while the buffer lives (type invariant).
        unsafe { core::slice::from_raw_parts(self.data, self.len) }
    }

    /// The address of the payload of the netlink message at `offset`, for a C callback: safe to
    /// compute; what may be read through it is what the caller checked in [`InSkb::data`] (the
    /// connector: a `cn_msg` and its data, if `Frame::parse` gave the frame at `offset` an id).
    #[inline]
    pub fn payload_ptr(&self, offset: usize) -> *mut u8 {
        self.data.wrapping_add(offset.wrapping_add(NLMSG_HDRLEN))
    }

    /// The kernel socket the datagram was sent to, which tells its namespace.
    #[inline]
    pub fn socket(&self) -> NetlinkSocket<'_> {
        // SAFETY: The buffer is valid (type invariant); netlink set its owner to the receiving
        // kernel socket (`netlink_unicast_kernel()`), held while its input function runs.
        let sock = unsafe { (*self.skb.as_ptr()).sk };
        // INVARIANT: As above: valid while the buffer is borrowed.
        NetlinkSocket {
            // SAFETY: As above: the owner is set, never null here.
            sock: unsafe { NonNull::new_unchecked(sock) },
            _lifetime: PhantomData,
        }
    }

    /// The sender's netlink parameters (portid, credentials).
    pub fn parms(&self) -> NonNull<bindings::netlink_skb_parms> {
        // SAFETY: The buffer is valid (type invariant), so is its control block.
        unsafe { NonNull::new_unchecked(netlink_cb(self.skb.as_ptr())) }
    }

    /// Sends the sender a netlink ack (for `Ok`) or error for the netlink message of `len` bytes
    /// (its `nlmsg_len`) at `offset`; nothing if that does not lie within this datagram.
    #[inline]
    pub fn ack(&self, offset: usize, len: usize, result: Result) {
        let within = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if len < NLMSG_HDRLEN || !within {
            return;
        }
        let err = result.err().map_or(0, Error::to_errno);
        // SAFETY: The buffer is valid (type invariant) and from a netlink sender; the message lies
        // within it, `nlmsg_len` bytes that `netlink_ack()` may copy; we run in the sender's
        // process context.
        unsafe { send_ack(self.skb, self.data.add(offset).cast(), err) };
    }
}

/// `netlink_ack()`: out of line, with the values it needs only, so that the receive path, where
/// acks are rare, does not keep an [`InSkb`] in memory for it.
///
/// # Safety
///
/// `skb` is a valid buffer from a netlink sender, in whose data `nlh` is the header of a message
/// of `nlmsg_len` bytes; called in the sender's process context.
#[cold]
#[inline(never)]
unsafe fn send_ack(skb: NonNull<bindings::sk_buff>, nlh: *mut bindings::nlmsghdr, err: c_int) {
    // SAFETY: By the safety requirements.
    unsafe { bindings::netlink_ack(skb.as_ptr(), nlh, err, core::ptr::null()) };
}

#[cfg(CONFIG_PROC_FS)]
impl<T: NetlinkProtocol> Adapter<T> {
    /// The show function of a single-record `seq_file`: 0 or a negative errno.
    ///
    /// # Safety
    ///
    /// Called by the `seq_file` code only, with the file being shown, whose private data is the
    /// namespace given to [`ProcNetEntry::new`].
    unsafe extern "C" fn show_callback(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
        // SAFETY: `single_open()` stored the entry's data in the file: its namespace, which
        // removes the entry (waiting for readers) before it goes.
        let Some(net) = NonNull::new(unsafe { (*m).private }.cast::<bindings::net>()) else {
            return EINVAL.to_errno();
        };
        // SAFETY: As above: live during the call, which the view does not outlive.
        let net = unsafe { Net::from_raw(net) };
        // SAFETY: The `seq_file` code passes the file being shown, valid during the call and used
        // by this task only (under the file's lock); the reference does not outlive the call.
        let m = unsafe { SeqFile::from_raw(m) };
        from_result(|| T::show(m, net).map(|()| 0))
    }
}

/// A protocol's file in the `/proc/net` of a network namespace, removed on drop.
///
/// # Invariants
///
/// The entry `name` exists under `parent`, the `/proc/net` of a namespace that outlives this
/// object, while this object lives.
#[cfg(CONFIG_PROC_FS)]
pub struct ProcNetEntry {
    name: &'static CStr,
    parent: *mut bindings::proc_dir_entry,
}

#[cfg(CONFIG_PROC_FS)]
impl ProcNetEntry {
    /// Creates `T::PROC_NAME` in the `/proc/net` of `net`, the initial namespace (the others'
    /// come with [`PerNetSockets`]), world-readable, printed by `T::show`, which may run from
    /// now until the drop of this object returns.
    pub fn new<T: NetlinkProtocol>(net: Net<'static>) -> Result<Self> {
        // SAFETY: The initial namespace outlives every entry.
        unsafe { Self::create::<T>(net) }
    }

    /// As [`ProcNetEntry::new`], in any namespace.
    ///
    /// # Safety
    ///
    /// The entry is dropped before `net` goes.
    unsafe fn create<T: NetlinkProtocol>(net: Net<'_>) -> Result<Self> {
        // SAFETY: `PROC_NAME` is a static string; `net` and its `/proc/net` directory are live;
        // the show function takes the file being shown, with `net` as its data.
        let entry = unsafe {
            proc_create_single_data(
                T::PROC_NAME.as_char_ptr(),
                0o444,
                net.proc_net(),
                Some(Adapter::<T>::show_callback),
                net.as_ptr().cast(),
            )
        };
        if entry.is_null() {
            return Err(EEXIST);
        }
        // INVARIANT: The entry was just created.
        Ok(Self {
            name: T::PROC_NAME,
            parent: net.proc_net(),
        })
    }

    /// The entry that [`ProcNetEntry::new`] created in `net` and left alive.
    ///
    /// # Safety
    ///
    /// The entry exists, and no other object owns it.
    unsafe fn assume_created<T: NetlinkProtocol>(net: Net<'_>) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            name: T::PROC_NAME,
            parent: net.proc_net(),
        }
    }
}

// SAFETY: Only removed, which may be done from any thread.
#[cfg(CONFIG_PROC_FS)]
unsafe impl Send for ProcNetEntry {}
// SAFETY: `&ProcNetEntry` gives no access.
#[cfg(CONFIG_PROC_FS)]
unsafe impl Sync for ProcNetEntry {}

#[cfg(CONFIG_PROC_FS)]
impl Drop for ProcNetEntry {
    fn drop(&mut self) {
        // SAFETY: The entry exists (type invariant); removal waits for running readers.
        unsafe { remove_proc_entry(self.name.as_char_ptr(), self.parent) };
    }
}

#[kunit_tests(cn_netlink)]
mod tests {
    use super::*;

    /// `write_done()` over bytes set to 0xff, 4 bytes longer than the message (the checks are in
    /// the test: KUnit turns assertions into failures there only).
    fn written(seq: u32, parts: &[&[u8]; 2]) -> KVec<u8> {
        let payload_len = parts[0].len() + parts[1].len();
        let size = nlmsg_align(NLMSG_HDRLEN + payload_len);
        let mut buf = KVec::from_elem(0xffu8, size + 4, GFP_KERNEL).unwrap();
        // SAFETY: `size + 4` writable bytes, the message's `size` among them; no overlap.
        unsafe { write_done(buf.as_mut_ptr(), payload_len, seq, parts) };
        buf
    }

    #[test]
    fn writes_one_done_message_with_zeroed_padding() {
        let short = [0x5a; 3];
        // (payload, aligned length): none (the last 4 bytes are the header's port id), 4 bytes
        // (no padding), then 3, 2 and 1 bytes of padding.
        let cases: [([&[u8]; 2], usize); 5] = [
            ([b"", b""], 16),
            ([b"ab", b"cd"], 20),
            ([&short[..1], b"wxyz"], 24),
            ([&short[..2], b"wxyz"], 24),
            ([b"abc", b"de"], 24),
        ];
        for (parts, size) in cases {
            let payload_len = parts[0].len() + parts[1].len();
            let buf = written(0x01020304, &parts);
            assert_eq!(buf.len(), size + 4);
            // The header: length, type, flags, sequence number, port id.
            assert_eq!(
                buf[0..4],
                ((NLMSG_HDRLEN + payload_len) as u32).to_ne_bytes()
            );
            assert_eq!(buf[4..6], (bindings::NLMSG_DONE as u16).to_ne_bytes());
            assert_eq!(buf[6..8], 0u16.to_ne_bytes());
            assert_eq!(buf[8..12], 0x01020304u32.to_ne_bytes());
            assert_eq!(buf[12..16], 0u32.to_ne_bytes());
            let data = &buf[NLMSG_HDRLEN..];
            assert_eq!(data[..parts[0].len()], *parts[0]);
            assert_eq!(data[parts[0].len()..payload_len], *parts[1]);
            // The padding, if any, is zeros; the bytes after the message are untouched.
            assert!(buf[NLMSG_HDRLEN + payload_len..size]
                .iter()
                .all(|&b| b == 0));
            assert_eq!(buf[size..], [0xff; 4]);
        }
    }

    #[test]
    fn builds_a_buffer_with_the_message_and_its_group() {
        let skb = OutSkb::new_done(7, &[b"abc", b"de"], 5, bindings::GFP_KERNEL).unwrap();
        let raw = skb.skb.as_ptr();
        // SAFETY: We own the linear buffer (type invariant): its `len` bytes lie at `data`.
        let (bytes, group) = unsafe {
            (
                core::slice::from_raw_parts((*raw).data, (*raw).len as usize),
                (*netlink_cb(raw)).dst_group,
            )
        };
        assert_eq!(group, 5);
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[0..4], 21u32.to_ne_bytes());
        assert_eq!(bytes[8..12], 7u32.to_ne_bytes());
        assert_eq!(&bytes[16..21], b"abcde");
    }
}
