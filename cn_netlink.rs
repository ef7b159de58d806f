// SPDX-License-Identifier: GPL-2.0

//! The connector core's raw edge: the netlink kernel socket, socket buffers, and the
//! `/proc/net` entry. Every call into netlink, skbuff and procfs C code is in this file; the rest
//! of the core is safe Rust over these types.
//!
//! The static inlines the kernel crate does not bind (`nlmsg_new()`, `nlmsg_put()`,
//! `nlmsg_hdr()`, `NETLINK_CB()`) are expressed here over the bound fields and functions; what
//! needs a field of the opaque `struct sock` or a macro comes from the C helpers in
//! `cn_helpers.c`.

use crate::cn_rx::{nlmsg_align, Frame, NLMSG_HDRLEN};
use core::ptr::NonNull;
use kernel::{bindings, prelude::*};

#[cfg(CONFIG_PROC_FS)]
extern "C" {
    // `include/linux/proc_fs.h` is not part of the kernel crate's bindings.
    fn proc_create_single_data(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut bindings::proc_dir_entry,
        show: Option<ShowFn>,
        data: *mut c_void,
    ) -> *mut bindings::proc_dir_entry;
    fn remove_proc_entry(name: *const c_char, parent: *mut bindings::proc_dir_entry);
}

extern "C" {
    // `cn_helpers.c`: `struct sock` is opaque to the kernel crate, `cond_resched()` a macro.
    fn cn_release_foreign_user_data(sk: *mut bindings::sock, groups: *mut c_ulong);
    fn cn_sock_set_sndtimeo_ms(sk: *mut bindings::sock, ms: c_uint);
    fn cn_cond_resched();
}

/// The longest a message to a port waits for room at its receiver, when its sender allows
/// waiting (C connector users passing a sleeping allocation mask): 1 s.
pub const UNICAST_WAIT_MS: u32 = 1000;

/// Whether an allocation mask allows sleeping (`gfpflags_allow_blocking()`).
pub fn gfp_allows_blocking(gfp: bindings::gfp_t) -> bool {
    gfp & (1 << bindings::___GFP_DIRECT_RECLAIM_BIT) != 0
}

/// The C type of a `/proc` show function.
pub type ShowFn = unsafe extern "C" fn(*mut bindings::seq_file, *mut c_void) -> c_int;
/// The netlink socket's input function.
pub type InputFn = unsafe extern "C" fn(*mut bindings::sk_buff);
/// The netlink socket's bind hook.
pub type BindFn = unsafe extern "C" fn(*mut bindings::net, c_int) -> c_int;
/// The netlink socket's release hook.
pub type ReleaseFn = unsafe extern "C" fn(*mut bindings::sock, *mut c_ulong);

/// Gives the CPU to other tasks if one is waiting (`cond_resched()`). Process context only.
pub fn cond_resched() {
    // SAFETY: The core calls it only from the netlink input function, which runs in the sending
    // task without locks held.
    unsafe { cn_cond_resched() }
}

/// Whether the network namespace's owner grants the caller `CAP_NET_ADMIN`.
///
/// # Safety
///
/// `net` is a valid network namespace (netlink passes one to the bind hook).
pub unsafe fn net_admin_capable(net: *mut bindings::net) -> bool {
    // SAFETY: `net` is valid by the safety requirements, so is its `user_ns`.
    unsafe { bindings::ns_capable((*net).user_ns, bindings::CAP_NET_ADMIN as c_int) }
}

/// Handles the `sk_user_data` of a socket being released as the C connector's release hook does:
/// `kfree()`d if the socket is in the process events group. The core never puts anything there;
/// C users of the connector may (as the kernel's process events connector does).
///
/// # Safety
///
/// `sk` and `groups` are what netlink passes to the release hook: a socket being released,
/// already off netlink's lists, and its group bitmap or null.
pub unsafe fn release_foreign_user_data(sk: *mut bindings::sock, groups: *mut c_ulong) {
    // SAFETY: By the safety requirements.
    unsafe { cn_release_foreign_user_data(sk, groups) }
}

/// The connector's netlink kernel socket in the initial network namespace.
///
/// # Invariants
///
/// `sock` is a kernel netlink socket created by `__netlink_kernel_create()` and owned by this
/// object.
pub struct KernelSocket {
    sock: NonNull<bindings::sock>,
}

// SAFETY: The socket is used only through netlink functions, which may be called from any thread.
unsafe impl Send for KernelSocket {}
// SAFETY: The netlink functions used through `&KernelSocket` synchronise internally.
unsafe impl Sync for KernelSocket {}

impl KernelSocket {
    /// Creates the kernel socket for netlink `unit` with `groups` multicast groups.
    ///
    /// Returns `EBUSY` if the unit already has a kernel socket in `init_net` (e.g. the in-tree
    /// connector is loaded) or netlink could not allocate it (it does not say which). Messages to
    /// a port wait for room at most [`UNICAST_WAIT_MS`] (the socket's send timeout).
    pub fn new(
        unit: u32,
        groups: u32,
        module: &'static ThisModule,
        input: InputFn,
        bind: BindFn,
        release: ReleaseFn,
    ) -> Result<Self> {
        let mut cfg = bindings::netlink_kernel_cfg {
            groups,
            flags: bindings::NL_CFG_F_NONROOT_RECV,
            input: Some(input),
            bind: Some(bind),
            unbind: None,
            release: Some(release),
        };
        // SAFETY: `init_net` is a static object; `cfg` is valid for the call and copied by
        // netlink; `module` is this module, which outlives the socket (released in `drop`).
        let sock = unsafe {
            bindings::__netlink_kernel_create(
                &raw mut bindings::init_net,
                unit as c_int,
                module.as_ptr(),
                &mut cfg,
            )
        };
        // INVARIANT: A non-null result is a new kernel socket that we own.
        let sock = NonNull::new(sock).map(|sock| Self { sock }).ok_or(EBUSY)?;
        // SAFETY: `sock` is a valid socket, not yet used by anybody but us.
        unsafe { cn_sock_set_sndtimeo_ms(sock.sock.as_ptr(), UNICAST_WAIT_MS) };
        Ok(sock)
    }

    /// Whether anybody listens on `group`.
    #[inline]
    pub fn has_listeners(&self, group: u32) -> bool {
        // SAFETY: `sock` is a valid kernel netlink socket (type invariant).
        unsafe { bindings::netlink_has_listeners(self.sock.as_ptr(), group) != 0 }
    }

    /// Broadcasts `skb` to `group`, except to `portid`, through `filter`.
    ///
    /// Returns what `netlink_broadcast_filtered()` returns.
    ///
    /// # Safety
    ///
    /// `filter`, if any, is safe to call with `filter_data` from the calling context.
    #[inline]
    pub unsafe fn broadcast(
        &self,
        skb: OutSkb,
        portid: u32,
        group: u32,
        gfp: bindings::gfp_t,
        filter: bindings::netlink_filter_fn,
        filter_data: *mut c_void,
    ) -> c_int {
        // SAFETY: `sock` is valid (type invariant); the skb's ownership passes to netlink;
        // `filter` is safe to call by the safety requirements.
        unsafe {
            bindings::netlink_broadcast_filtered(
                self.sock.as_ptr(),
                skb.into_raw(),
                portid,
                group,
                gfp,
                filter,
                filter_data,
            )
        }
    }

    /// Sends `skb` to the socket bound to `portid`. If its buffer is full, waits for room for at
    /// most [`UNICAST_WAIT_MS`] if `may_wait`; then, or at once, the message is lost and the
    /// receiver sees `ENOBUFS` on its next read, as with a broadcast.
    ///
    /// Returns what `netlink_unicast()` returns: the length sent or a negative errno (`EAGAIN`
    /// for a full receiver, `ECONNREFUSED` for no such port).
    ///
    /// # Safety
    ///
    /// `may_wait` only where sleeping is allowed.
    #[inline]
    pub unsafe fn unicast(&self, skb: OutSkb, portid: u32, may_wait: bool) -> c_int {
        // SAFETY: `sock` is valid (type invariant); the skb's ownership passes to netlink, which
        // sleeps only if `may_wait`, where that is allowed.
        unsafe {
            bindings::netlink_unicast(
                self.sock.as_ptr(),
                skb.into_raw(),
                portid,
                c_int::from(!may_wait),
            )
        }
    }
}

impl Drop for KernelSocket {
    fn drop(&mut self) {
        // SAFETY: We own the socket (type invariant) and release it exactly once.
        unsafe { bindings::netlink_kernel_release(self.sock.as_ptr()) };
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
    /// Builds a buffer holding one `NLMSG_DONE` message with sequence number `seq`, the given
    /// payload, and `dst_group` in its netlink control block (`nlmsg_new()` + `nlmsg_put()`).
    #[inline]
    pub fn new_done(
        seq: u32,
        payload: &[u8],
        dst_group: u32,
        gfp: bindings::gfp_t,
    ) -> Result<Self> {
        let size = nlmsg_align(NLMSG_HDRLEN + payload.len());
        let len = c_int::try_from(payload.len()).map_err(|_| EMSGSIZE)?;
        // SAFETY: Plain allocation; any size and mask are accepted.
        let raw = unsafe { bindings::__alloc_skb(size as c_uint, gfp, 0, bindings::NUMA_NO_NODE) };
        // INVARIANT: A new linear skb, owned by us from here on (freed by `drop` on error).
        let skb = Self {
            skb: NonNull::new(raw).ok_or(ENOMEM)?,
        };
        // SAFETY: `skb` is valid and has `size` bytes of tailroom, as `__nlmsg_put()` needs.
        let nlh = unsafe {
            bindings::__nlmsg_put(
                skb.skb.as_ptr(),
                0,
                seq,
                bindings::NLMSG_DONE as c_int,
                len,
                0,
            )
        };
        // SAFETY: `__nlmsg_put()` returned the header of a message with `payload.len()` bytes
        // of payload (padding already zeroed), which `payload` cannot overlap (new buffer).
        unsafe {
            let data = nlh.cast::<u8>().add(NLMSG_HDRLEN);
            core::ptr::copy_nonoverlapping(payload.as_ptr(), data, payload.len());
            (*netlink_cb(skb.skb.as_ptr())).dst_group = dst_group;
        }
        Ok(skb)
    }

    /// Gives up ownership, for a netlink function that consumes the buffer.
    #[inline]
    fn into_raw(self) -> *mut bindings::sk_buff {
        let skb = self.skb.as_ptr();
        core::mem::forget(self);
        skb
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

/// A datagram handed to the connector's input function, borrowed for the duration of the call.
///
/// # Invariants
///
/// `skb` is a valid socket buffer from a netlink sender, owned by netlink and valid until the
/// input function returns, which `'a` does not outlive; its linear data is the `len` bytes at
/// `data` (`len` is 0 if the buffer is not linear, which netlink never does).
pub struct InSkb<'a> {
    skb: NonNull<bindings::sk_buff>,
    data: *mut u8,
    len: usize,
    _lifetime: core::marker::PhantomData<&'a bindings::sk_buff>,
}

impl InSkb<'_> {
    /// Borrows the buffer passed to the input function.
    ///
    /// # Safety
    ///
    /// `skb` is the buffer netlink passed to the input function, and the result is dropped
    /// before the input function returns.
    pub unsafe fn from_raw(skb: NonNull<bindings::sk_buff>) -> Self {
        let raw = skb.as_ptr();
        // SAFETY: The buffer is valid by the safety requirements; without paged data
        // (`data_len == 0`) its `len` bytes lie at `data`.
        let (data, len) = unsafe {
            if (*raw).data_len != 0 {
                ((*raw).data, 0)
            } else {
                ((*raw).data, (*raw).len as usize)
            }
        };
        // INVARIANT: As established above.
        Self {
            skb,
            data,
            len,
            _lifetime: core::marker::PhantomData,
        }
    }

    /// The datagram's bytes.
    ///
    /// The slice must not be held across a call of a callback given [`Self::payload_ptr`], which
    /// may write to the data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: `len` bytes lie at `data` while the buffer lives (type invariant).
        unsafe { core::slice::from_raw_parts(self.data, self.len) }
    }

    /// Whether `frame` lies within this datagram.
    #[inline]
    fn holds(&self, frame: Frame) -> bool {
        frame
            .offset
            .checked_add(frame.len)
            .is_some_and(|end| frame.len >= NLMSG_HDRLEN && end <= self.len)
    }

    /// A pointer to the payload of the netlink message `frame`, for handing to a callback; `None`
    /// if the frame does not lie within this datagram.
    #[inline]
    pub fn payload_ptr(&self, frame: Frame) -> Option<NonNull<u8>> {
        if !self.holds(frame) {
            return None;
        }
        // SAFETY: The frame, so its payload start, lies within the datagram's linear data.
        NonNull::new(unsafe { self.data.add(frame.offset + NLMSG_HDRLEN) })
    }

    /// The sender's netlink parameters (portid, credentials).
    pub fn parms(&self) -> NonNull<bindings::netlink_skb_parms> {
        // SAFETY: The buffer is valid (type invariant), so is its control block.
        unsafe { NonNull::new_unchecked(netlink_cb(self.skb.as_ptr())) }
    }

    /// Sends the sender a netlink ack (`err` 0) or error for the message `frame`; nothing if the
    /// frame does not lie within this datagram.
    #[cold]
    pub fn ack(&self, frame: Frame, err: c_int) {
        if !self.holds(frame) {
            return;
        }
        // SAFETY: The buffer is valid (type invariant) and from a netlink sender; the message
        // lies within it, `nlmsg_len` bytes that `netlink_ack()` may copy; we run in the sender's
        // process context.
        unsafe {
            let nlh = self.data.add(frame.offset).cast::<bindings::nlmsghdr>();
            bindings::netlink_ack(self.skb.as_ptr(), nlh, err, core::ptr::null());
        }
    }
}

/// A file in `/proc/net` of the initial network namespace, removed on drop.
///
/// # Invariants
///
/// The entry `name` exists under `init_net.proc_net` while this object lives.
#[cfg(CONFIG_PROC_FS)]
pub struct ProcNetEntry {
    name: &'static CStr,
}

#[cfg(CONFIG_PROC_FS)]
impl ProcNetEntry {
    /// Creates `/proc/net/<name>`, world-readable, printed by `show`.
    ///
    /// `show` may run from creation until the drop of this object returns.
    pub fn new(name: &'static CStr, show: ShowFn) -> Result<Self> {
        // SAFETY: `name` is a static string; `init_net.proc_net` is the initial namespace's
        // `/proc/net` directory, valid while the kernel runs.
        let entry = unsafe {
            proc_create_single_data(
                name.as_char_ptr(),
                0o444,
                bindings::init_net.proc_net,
                Some(show),
                core::ptr::null_mut(),
            )
        };
        if entry.is_null() {
            return Err(EEXIST);
        }
        Ok(Self { name })
    }
}

#[cfg(CONFIG_PROC_FS)]
impl Drop for ProcNetEntry {
    fn drop(&mut self) {
        // SAFETY: The entry exists (type invariant); removal waits for running readers.
        unsafe { remove_proc_entry(self.name.as_char_ptr(), bindings::init_net.proc_net) };
    }
}

/// The `seq_file` of a `/proc` file being shown.
///
/// # Invariants
///
/// `m` is a valid `seq_file` for the lifetime `'a`.
#[cfg(CONFIG_PROC_FS)]
pub struct SeqOut<'a> {
    m: NonNull<bindings::seq_file>,
    _lifetime: core::marker::PhantomData<&'a bindings::seq_file>,
}

#[cfg(CONFIG_PROC_FS)]
impl SeqOut<'_> {
    /// Wraps the `seq_file` passed to a show function.
    ///
    /// # Safety
    ///
    /// `m` is the non-null `seq_file` passed to a show function, and the result is dropped
    /// before that function returns.
    pub unsafe fn from_raw(m: *mut bindings::seq_file) -> Self {
        Self {
            // SAFETY: Non-null by the safety requirements.
            m: unsafe { NonNull::new_unchecked(m) },
            _lifetime: core::marker::PhantomData,
        }
    }

    /// Prints `s` as is.
    pub fn puts(&self, s: &CStr) {
        // SAFETY: `m` is valid (type invariant); "%s" takes one NUL-terminated string.
        unsafe { bindings::seq_printf(self.m.as_ptr(), c"%s".as_char_ptr(), s.as_char_ptr()) };
    }

    /// Prints one callback line of `/proc/net/connector`: `"%-15s %u:%u\n"`.
    pub fn callback_line(
        &self,
        name: &[u8; crate::connector::CN_CBQ_NAMELEN],
        id: crate::connector::CbId,
    ) {
        let name = CStr::from_bytes_until_nul(name).unwrap_or(c"");
        // SAFETY: `m` is valid (type invariant); the format takes a NUL-terminated string and two
        // `unsigned int`s, which is what is passed.
        unsafe {
            bindings::seq_printf(
                self.m.as_ptr(),
                c"%-15s %u:%u\n".as_char_ptr(),
                name.as_char_ptr(),
                id.idx,
                id.val,
            )
        };
    }
}
