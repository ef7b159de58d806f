// SPDX-License-Identifier: GPL-2.0

//! The C edge of the connector core: the functions that `connector.ko` exports.
//!
//! Those of `include/linux/connector.h`, `cn_netlink_send_multi()` of the original documentation,
//! and those of the safe Rust API (`connector_api.rs`, whose declarations are checked against
//! these below), exported by `cn_exports.c`. Each checks its pointers and calls the
//! [`Connector`]; errors stay `Result` until the return, where they become a negative errno.

use crate::{
    cn_netlink::{self, Net},
    connector,
    connector_api::StateDropFn,
    connector_api::StateVisitFn,
    CbId, CnMsg, Connector, DeliveryCallback, Handler, RawCallback, RustCallback,
};
use core::{any::TypeId, mem::size_of, ptr, ptr::NonNull, slice};
use kernel::{bindings, error::from_result, prelude::*, transmute::AsBytes};

/// `value`, or the negative errno of the error: `from_result()` for the send paths, which the
/// compiler does not inline there (it is every sender's path).
#[inline(always)]
fn errno_or(value: Result<c_int>) -> c_int {
    value.unwrap_or_else(Error::to_errno)
}

/// The running connector, or `EAGAIN` (not loaded yet, or unloading).
fn running() -> Result<&'static Connector> {
    connector().ok_or(EAGAIN)
}

/// Registers `handler` for `*id` under the name `name`; `caller` names the exported function in
/// the log, where failures go.
///
/// # Safety
///
/// `id` and `name` are null or valid (`name` NUL-terminated) for the call.
unsafe fn add(
    caller: &str,
    id: *const CbId,
    name: *const c_char,
    handler: Option<Handler>,
) -> Result {
    let connector = running()?;
    let Some(handler) = handler else {
        pr_err!("{}: no callback given\n", caller);
        return Err(EINVAL);
    };
    if id.is_null() || name.is_null() {
        pr_err!("{}: null id or name\n", caller);
        return Err(EINVAL);
    }
    // SAFETY: Both are non-null, hence valid by the safety requirements.
    let (id, name) = unsafe { (*id, CStr::from_char_ptr(name)) };
    connector
        .add_callback(id, name.to_bytes(), handler)
        .inspect_err(|e| pr_err!("{caller}: cannot register {}:{}: {e:?}\n", id.idx, id.val))
}

/// `int cn_add_callback(const struct cb_id *id, const char *name, void (*callback)(struct cn_msg *,
/// struct netlink_skb_parms *))`: registers `callback` for `id`; it runs in the sending task,
/// without locks held. Returns 0, `-EINVAL` if `id` is taken (or an argument is null), `-ENOMEM`,
/// or `-EAGAIN` if the connector is not running. May sleep.
///
/// # Safety
///
/// `id` and `name` are null or valid (`name` NUL-terminated) for the call; `callback` stays
/// callable until `cn_del_callback(id)` returns.
#[no_mangle]
pub unsafe extern "C" fn cn_add_callback(
    id: *const CbId,
    name: *const c_char,
    callback: Option<RawCallback>,
) -> c_int {
    // SAFETY: By the safety requirements.
    let added = unsafe { add("cn_add_callback", id, name, callback.map(Handler::Foreign)) };
    from_result(|| added.map(|()| 0))
}

/// `int cn_add_rust_callback_in(const struct cb_id *id, const char *name, void (*callback)(const
/// void *ctx, const struct cn_delivery *), const void *ctx, bool all_namespaces)`: registers a
/// callback of the safe Rust API, which gets `ctx` and a [`crate::Delivery`], for messages from
/// every network namespace if `all_namespaces` (else from the initial one, as C callbacks);
/// otherwise as [`cn_add_callback`].
///
/// # Safety
///
/// As [`cn_add_callback`], and `callback` may be called with `ctx` from any thread until
/// `cn_del_callback(id)` returns.
#[no_mangle]
pub unsafe extern "C" fn cn_add_rust_callback_in(
    id: *const CbId,
    name: *const c_char,
    callback: Option<DeliveryCallback>,
    ctx: *const c_void,
    all_namespaces: bool,
) -> c_int {
    // INVARIANT: `callback` may be called with `ctx` from any thread while registered, by the
    // safety requirements.
    let handler = callback.map(|callback| {
        Handler::Rust(RustCallback {
            callback,
            ctx,
            all_namespaces,
        })
    });
    // SAFETY: By the safety requirements.
    let added = unsafe { add("cn_add_rust_callback_in", id, name, handler) };
    from_result(|| added.map(|()| 0))
}

/// `void cn_del_callback(const struct cb_id *id)`: unregisters the callback for `id`. Returns once
/// no invocation of it is running, so its module may unload right after: a callback that blocks
/// (for a full receiver, on a lock held by the caller) keeps it waiting as long. Sleeps: not for
/// atomic context, nor for the callback being removed.
///
/// # Safety
///
/// `id` is null or valid for the call.
#[no_mangle]
pub unsafe extern "C" fn cn_del_callback(id: *const CbId) {
    let Some(connector) = connector() else {
        return;
    };
    if id.is_null() {
        pr_err!("cn_del_callback: null id\n");
        return;
    }
    // SAFETY: Non-null, hence valid by the safety requirements.
    connector.del_callback(unsafe { *id });
}

/// `int cn_netlink_send_mult(struct cn_msg *msg, u16 len, u32 portid, u32 group, gfp_t gfp_mask,
/// netlink_filter_fn filter, void *filter_data)`: sends `sizeof(*msg) + len` bytes at `msg`.
///
/// The routing of every send: to `portid` if non-zero, to `group` if non-zero (both: broadcast
/// except `portid`), else to the group of the callback registered for `msg->id` (`-ENODEV` if
/// none); `-ESRCH` without portid when nobody listens. Returns 0 (broadcast), the bytes sent (to a
/// port) or a negative errno. Any context, with an atomic `gfp_mask`. To a full port it waits for
/// room if `gfp_mask` allows sleeping, as in C, but at most [`cn_netlink::UNICAST_WAIT_MS`] (C:
/// for ever); then, or at once, the message is dropped (`-EAGAIN`) and the receiver sees `ENOBUFS`.
///
/// # Safety
///
/// `msg` is null or valid for reads of `sizeof(*msg) + len` bytes; `filter`, if any, is safe to
/// call with `filter_data` in the calling context.
#[no_mangle]
pub unsafe extern "C" fn cn_netlink_send_mult(
    msg: *mut CnMsg,
    len: u16,
    portid: u32,
    group: u32,
    gfp_mask: bindings::gfp_t,
    filter: bindings::netlink_filter_fn,
    filter_data: *mut c_void,
) -> c_int {
    let send = || -> Result<u32> {
        let connector = running()?;
        if msg.is_null() {
            pr_err!("cn_netlink_send_mult: null message\n");
            return Err(EINVAL);
        }
        // SAFETY: Non-null, hence valid for reads of the header and the `len` bytes after it by
        // the safety requirements; the header is copied, so neither its alignment nor later
        // writes to it matter.
        let (header, bytes) = unsafe {
            (
                msg.read_unaligned(),
                slice::from_raw_parts(msg.cast::<u8>(), size_of::<CnMsg>() + usize::from(len)),
            )
        };
        let may_wait = cn_netlink::gfp_allows_blocking(gfp_mask);
        // SAFETY: `filter` by the safety requirements; a mask that allows blocking is only
        // passed where sleeping is allowed.
        unsafe {
            connector.send(
                connector.socket.socket(),
                &header,
                &[bytes],
                portid,
                group,
                gfp_mask,
                filter,
                filter_data,
                may_wait,
            )
        }
    };
    errno_or(send().map(|sent| sent as c_int))
}

/// `int cn_netlink_send(struct cn_msg *msg, u32 portid, u32 group, gfp_t gfp_mask)`: sends one
/// message with its `msg->len` bytes of data, as [`cn_netlink_send_mult`] without a filter.
///
/// # Safety
///
/// `msg` is null or valid for reads of `sizeof(*msg) + msg->len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cn_netlink_send(
    msg: *mut CnMsg,
    portid: u32,
    group: u32,
    gfp_mask: bindings::gfp_t,
) -> c_int {
    if msg.is_null() {
        pr_err!("cn_netlink_send: null message\n");
        return EINVAL.to_errno();
    }
    // SAFETY: Non-null, hence valid for reads of `sizeof(*msg) + msg->len` bytes by the safety
    // requirements (`len` read as the callee reads the header: unaligned).
    unsafe {
        let len = ptr::addr_of!((*msg).len).read_unaligned();
        cn_netlink_send_multi(msg, len, portid, group, gfp_mask)
    }
}

/// `int cn_netlink_send_multi(struct cn_msg *msg, u16 len, u32 portid, u32 group, gfp_t
/// gfp_mask)`: the name and prototype of the connector's original documentation, behaving as
/// [`cn_netlink_send_mult`] without a filter.
///
/// # Safety
///
/// `msg` is null or valid for reads of `sizeof(*msg) + len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cn_netlink_send_multi(
    msg: *mut CnMsg,
    len: u16,
    portid: u32,
    group: u32,
    gfp_mask: bindings::gfp_t,
) -> c_int {
    // SAFETY: By the safety requirements; no filter.
    unsafe { cn_netlink_send_mult(msg, len, portid, group, gfp_mask, None, ptr::null_mut()) }
}

/// `int cn_rust_send_in(struct net *net, const struct cn_msg *header, const void *data, size_t len,
/// u32 portid, u32 group, gfp_t gfp_mask, netlink_filter_fn filter, void *filter_data)`: the safe
/// Rust API's send of `*header` (its `len` set to `len`) and the `len` bytes at `data`, in one
/// socket buffer built from both, through the connector socket of `net` (null: the initial
/// namespace), routed as by [`cn_netlink_send_mult`] but never waiting for room at a port.
/// Returns 0 or a negative errno (`-EMSGSIZE` for more than `u16::MAX` bytes of data).
///
/// # Safety
///
/// `net` is null or a network namespace the caller keeps alive during the call; `header` is null
/// or valid for reads of a `cn_msg`; `data` is valid for reads of `len` bytes (or `len` is 0);
/// `filter`, if any, is safe to call with `filter_data` in the calling context.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cn_rust_send_in(
    net: *mut bindings::net,
    header: *const CnMsg,
    data: *const u8,
    len: usize,
    portid: u32,
    group: u32,
    gfp_mask: bindings::gfp_t,
    filter: bindings::netlink_filter_fn,
    filter_data: *mut c_void,
) -> c_int {
    let send = || -> Result {
        let connector = running()?;
        if header.is_null() || (data.is_null() && len != 0) {
            pr_err!("cn_rust_send_in: null header or data\n");
            return Err(EINVAL);
        }
        if len > usize::from(u16::MAX) {
            return Err(EMSGSIZE);
        }
        // SAFETY: Non-null (or empty), hence valid for reads by the safety requirements.
        let (mut header, data) = unsafe {
            (
                header.read_unaligned(),
                if len == 0 {
                    &[][..]
                } else {
                    slice::from_raw_parts(data, len)
                },
            )
        };
        header.len = len as u16;
        let net = match NonNull::new(net) {
            // SAFETY: Kept alive by the caller during the call, by the safety requirements.
            Some(net) => unsafe { Net::from_raw(net) },
            None => Net::initial(),
        };
        // SAFETY: `filter` by the safety requirements; never waits.
        unsafe {
            connector.send(
                connector.socket_in(net)?,
                &header,
                &[header.as_bytes(), data],
                portid,
                group,
                gfp_mask,
                filter,
                filter_data,
                false,
            )
        }
        .map(|_| ())
    };
    errno_or(send().map(|()| 0))
}

/// The allocation flags of the mask a Rust user passed: `GFP_KERNEL`, `GFP_KERNEL_ACCOUNT` and
/// `GFP_ATOMIC` as they are, anything else as `GFP_NOWAIT`, which never sleeps.
fn alloc_flags(gfp: bindings::gfp_t) -> kernel::alloc::Flags {
    match gfp {
        bindings::GFP_KERNEL => GFP_KERNEL,
        bindings::GFP_KERNEL_ACCOUNT => kernel::alloc::flags::GFP_KERNEL_ACCOUNT,
        bindings::GFP_ATOMIC => GFP_ATOMIC,
        _ => GFP_NOWAIT,
    }
}

/// The socket, owner and type that the per-socket state functions take, if none is null.
///
/// # Safety
///
/// Each argument is null or valid for the call; `type_id` points to a `core::any::TypeId`.
unsafe fn state_key(
    sk: *mut bindings::sock,
    owner: *const CbId,
    type_id: *const c_void,
) -> Option<(usize, CbId, TypeId)> {
    if sk.is_null() || owner.is_null() || type_id.is_null() {
        return None;
    }
    // SAFETY: Non-null, hence valid by the safety requirements.
    Some(unsafe { (sk as usize, *owner, *type_id.cast::<TypeId>()) })
}

/// `void *cn_sock_state_get(struct sock *sk, const struct cb_id *owner, const void *type_id)`:
/// the state of type `*type_id` that the callback of `owner` attached to `sk`, or null.
///
/// # Safety
///
/// Arguments null or valid for the call; `type_id` points to a `core::any::TypeId`. The result
/// stays valid while the caller keeps `sk` from being released and `owner` registered.
#[no_mangle]
pub unsafe extern "C" fn cn_sock_state_get(
    sk: *mut bindings::sock,
    owner: *const CbId,
    type_id: *const c_void,
) -> *mut c_void {
    // SAFETY: By the safety requirements.
    let key = unsafe { state_key(sk, owner, type_id) };
    let (Some(connector), Some((sk, owner, type_id))) = (connector(), key) else {
        return ptr::null_mut();
    };
    connector
        .states
        .get(sk, owner, type_id)
        .unwrap_or(ptr::null_mut())
}

/// `int cn_sock_state_attach(struct sock *sk, const struct cb_id *owner, const void *type_id,
/// void *data, void (*drop)(void *), gfp_t gfp, void **attached)`: attaches `data` to `sk` for
/// `owner` unless it has a state of that owner; `*attached` is then the state attached. Returns 1
/// if that is `data` (which the core owns from now on), 0 if it is the earlier state, `-EBUSY` if
/// the earlier state has another type, `-ENOMEM`, `-EINVAL` for null arguments.
///
/// # Safety
///
/// Arguments null or valid for the call; `type_id` points to a `core::any::TypeId`; `data` is a
/// live state of that type, `Send` and `Sync`, that `drop` frees (in process context, without
/// unregistering any callback); `drop` stays callable until `cn_del_callback(owner)` returns;
/// called during an invocation of the callback of `owner`, by the task that sends on `sk`.
#[no_mangle]
pub unsafe extern "C" fn cn_sock_state_attach(
    sk: *mut bindings::sock,
    owner: *const CbId,
    type_id: *const c_void,
    data: *mut c_void,
    drop: Option<StateDropFn>,
    gfp: bindings::gfp_t,
    attached: *mut *mut c_void,
) -> c_int {
    let attach = || -> Result<bool> {
        let connector = running()?;
        // SAFETY: By the safety requirements.
        let key = unsafe { state_key(sk, owner, type_id) };
        let (Some((sk, owner, type_id)), Some(drop), false, false) =
            (key, drop, data.is_null(), attached.is_null())
        else {
            return Err(EINVAL);
        };
        // SAFETY: By the safety requirements.
        let (state, taken) = unsafe {
            connector
                .states
                .attach(sk, owner, type_id, data, drop, alloc_flags(gfp))
        }?;
        // SAFETY: Non-null, hence valid for writes by the safety requirements.
        unsafe { *attached = state };
        Ok(taken)
    };
    from_result(|| attach().map(c_int::from))
}

/// `int cn_sock_state_visit(struct sock *sk, const struct cb_id *owner, const void *type_id,
/// int (*visit)(const void *state, void *ctx), void *ctx)`: `visit(state, ctx)` with the state of
/// type `*type_id` that the callback of `owner` attached to `sk` (or null), under the lock that
/// keeps it alive. For broadcast filters, in any context: `visit` must not sleep.
///
/// # Safety
///
/// Arguments null or valid for the call; `type_id` points to a `core::any::TypeId`; `visit` is
/// safe to call with a state of that type (or null) and `ctx`.
#[no_mangle]
pub unsafe extern "C" fn cn_sock_state_visit(
    sk: *mut bindings::sock,
    owner: *const CbId,
    type_id: *const c_void,
    visit: Option<StateVisitFn>,
    ctx: *mut c_void,
) -> c_int {
    let (Some(connector), Some(visit)) = (connector(), visit) else {
        return 0;
    };
    // SAFETY: By the safety requirements.
    let Some((sk, owner, type_id)) = (unsafe { state_key(sk, owner, type_id) }) else {
        // SAFETY: `visit` takes a null state, by the safety requirements.
        return unsafe { visit(ptr::null(), ctx) };
    };
    connector.states.visit(sk, owner, type_id, |state| {
        let state = state.map_or(ptr::null(), |state| state.cast_const());
        // SAFETY: `state` is null or a live state of the type `visit` takes, kept alive by the
        // table's lock during the call.
        unsafe { visit(state, ctx) }
    })
}

// The consumer API (`connector_api.rs`) declares the exports it calls: each declaration has the
// type of its definition here, or the core does not build.
const _: () = {
    use crate::connector_api as api;
    let _: [unsafe extern "C" fn(_); 2] = [api::cn_del_callback, cn_del_callback];
    let _: [unsafe extern "C" fn(_, _, _, _, _) -> _; 2] =
        [api::cn_add_rust_callback_in, cn_add_rust_callback_in];
    let _: [unsafe extern "C" fn(_, _, _, _, _, _, _, _, _) -> _; 2] =
        [api::cn_rust_send_in, cn_rust_send_in];
    let _: [unsafe extern "C" fn(_, _, _) -> _; 2] = [api::cn_sock_state_get, cn_sock_state_get];
    let _: [unsafe extern "C" fn(_, _, _, _, _, _, _) -> _; 2] =
        [api::cn_sock_state_attach, cn_sock_state_attach];
    let _: [unsafe extern "C" fn(_, _, _, _, _) -> _; 2] =
        [api::cn_sock_state_visit, cn_sock_state_visit];
};
