// SPDX-License-Identifier: GPL-2.0

//! The connector core: userspace <-> kernelspace messaging over `NETLINK_CONNECTOR`.
//!
//! Creates the connector's netlink kernel socket in every network namespace, keeps the callbacks
//! registered by [`CbId`], hands each message from userspace to the callback of its id if that
//! callback takes messages from the sender's namespace, and exports ([`cn_abi`]) the C
//! ABI of `connector.h` and the safe Rust API's entry points (`connector_api.rs`). The files:
//! README.md, *Layout*; what the core does beyond the C connector: *Behaviour*.

use core::{
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};
use kernel::{bindings, new_mutex, prelude::*, sync::Mutex, transmute::AsBytes};

pub mod cn_abi;
pub mod cn_netlink;
pub mod cn_notify;
pub mod cn_queue;
pub mod cn_rx;
pub mod cn_sockstate;
pub mod cn_waitmap;
pub mod connector_api;

#[cfg(CONFIG_PROC_FS)]
use cn_netlink::ProcNetEntry;
use cn_netlink::{
    InSkb, KernelSocket, Net, NetId, NetlinkProtocol, NetlinkSocket, OutSkb, PerNetSockets,
    ReleasedSocket,
};
use cn_notify::{NotifyEvent, NotifyRequest, NotifyRequests};
use cn_queue::CallbackQueue;
use cn_rx::{Frame, MAX_MSGS_PER_DATAGRAM};
use cn_sockstate::SocketStates;
use connector_api::{
    CbId, CnMsg, Delivery, DeliveryCallback, Message, RawCallback, Sender, CN_GROUPS, CN_IDX_PROC,
};

module! {
    type: ConnectorModule,
    name: "connector",
    authors: ["Rust connector developers"],
    description: "Generic userspace <-> kernelspace connector, in Rust",
    license: "GPL",
    alias: ["net-pf-16-proto-11"],
    params: {
        ctl_idx: u32 {
            default: 0xffffffff,
            description: "Index of the control id that takes notification requests",
        },
        ctl_val: u32 {
            default: 0xffffffff,
            description: "Value of the control id that takes notification requests",
        },
    },
}

/// What the core calls for a message.
#[derive(Clone, Copy)]
enum Handler {
    /// A callback registered through the C ABI of `connector.h`.
    Foreign(RawCallback),
    /// A callback registered from Rust, which gets a [`Delivery`].
    Rust(RustCallback),
    /// The core's own handler of notification requests.
    Control,
}

impl Handler {
    /// Whether the handler takes messages from sockets in `net`: every handler those of the
    /// initial namespace, as in C; only Rust callbacks that asked for them those of the others.
    #[inline]
    fn accepts(&self, net: Net<'_>) -> bool {
        net.is_initial() || matches!(self, Handler::Rust(rust) if rust.all_namespaces)
    }
}

/// A callback of the safe Rust API (`connector_api.rs`) and the context it is called with: the
/// address of its registration's data.
///
/// # Invariants
///
/// `callback` may be called with `ctx` from any thread, while the callback is registered.
#[derive(Clone, Copy)]
struct RustCallback {
    callback: DeliveryCallback,
    ctx: *const c_void,
    /// Whether it takes messages from every network namespace (else the initial one only).
    all_namespaces: bool,
}

// SAFETY: `ctx` is only handed back to `callback`, which may be called with it from any thread
// (type invariant).
unsafe impl Send for RustCallback {}
// SAFETY: As above: shared use only copies `ctx` to hand it to `callback`.
unsafe impl Sync for RustCallback {}

/// The connector. Built in the order that keeps a failed load harmless: the sockets, through
/// which userspace reaches the module's code, come last, and input is ignored until the
/// connector is published. First the initial namespace's, which fails if the unit is taken (the
/// in-tree `cn`) before any socket of the unit exists; then those of the other namespaces, whose
/// registration can fail only for lack of memory. Once the first socket exists, netlink lets
/// userspace open sockets of the unit in any namespace, each holding a reference on this module
/// while it loads; if that registration then fails, the load fails and the module goes with such
/// a socket still open (as for every netlink family with sockets per namespace: the window is
/// the registration, and the failure an allocation failure at load).
/// Dropped in the order of the fields: the sockets first.
#[pin_data]
struct Connector {
    /// The socket in the initial namespace: that of the C ABI.
    socket: KernelSocket,
    #[cfg(CONFIG_PROC_FS)]
    proc: Option<ProcNetEntry>,
    /// The sockets in the other namespaces.
    #[pin]
    namespaces: PerNetSockets<Self>,
    #[pin]
    requests: Mutex<NotifyRequests>,
    /// Whether `requests` has any request in force: set under its mutex, read without it, so
    /// that registrations skip the mutex when nobody watches (the common case). A `core` atomic,
    /// one instruction (the kernel crate's is an out-of-line helper call; see `cn_queue.rs`).
    watched: AtomicBool,
    #[pin]
    states: SocketStates,
    #[pin]
    queue: CallbackQueue<Handler>,
}

/// The running connector, for the netlink hooks and the exported functions, which get no context
/// pointer: set once complete, cleared before teardown; a `core` atomic (see `cn_queue.rs`).
///
/// Readers use it while the module is live: the exported functions are called only by modules
/// holding a reference on this one, and netlink input only from sockets of our protocol, each
/// holding one (`netlink_create()` takes it), so neither runs once the module's exit has started.
/// `/proc` readers are waited for by the entry's removal, before the connector is freed.
static CONNECTOR: AtomicPtr<Connector> = AtomicPtr::new(core::ptr::null_mut());

/// The running connector, if any.
fn connector() -> Option<&'static Connector> {
    // SAFETY: A non-null `CONNECTOR` points to the live connector, which stays alive while the
    // callers listed at `CONNECTOR` can run, as explained there.
    unsafe { CONNECTOR.load(Ordering::Acquire).as_ref() }
}

impl Connector {
    fn new(control_id: CbId) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            queue <- CallbackQueue::new(),
            states <- SocketStates::new(),
            requests <- new_mutex!(NotifyRequests::default(), "cn_notify_requests"),
            watched: AtomicBool::new(false),
            _: {
                let CbId { idx, val } = control_id;
                queue
                    .add(control_id, b"cn_control", Handler::Control)
                    .inspect_err(|_| pr_err!("cannot register the control id {idx}:{val}\n"))?;
            },
            socket: KernelSocket::new::<Self>(Net::initial())
                .inspect_err(|_| {
                    pr_err!(
                        "cannot create the NETLINK_CONNECTOR socket: in use (by the in-tree `cn`?) or out of memory\n"
                    )
                })?,
            // As the C connector: without its `/proc` file, the connector still works.
            #[cfg(CONFIG_PROC_FS)]
            proc: ProcNetEntry::new::<Self>(Net::initial())
                .inspect_err(|e| pr_warn!("cannot create /proc/net/connector: {:?}\n", e))
                .ok(),
            // SAFETY: The connector is created once, at load: the only registration of its kind.
            namespaces <- unsafe { PerNetSockets::new() },
        })
    }

    /// Registers `handler` for `id` and notifies the requests watching `id`.
    fn add_callback(&self, id: CbId, name: &[u8], handler: Handler) -> Result {
        self.queue.add(id, name, handler)?;
        self.notify(id, NotifyEvent::Added);
        Ok(())
    }

    /// Unregisters `id`, waiting for its running invocations, drops the per-socket states it
    /// attached, and notifies the requests watching it.
    fn del_callback(&self, id: CbId) {
        // The purge runs while the id is taken: it cannot drop a new registration's states.
        if self
            .queue
            .remove(id, || self.states.is_idle(), || self.states.purge_owner(id))
        {
            self.notify(id, NotifyEvent::Removed);
        }
    }

    /// Tells every request watching `id` about `event`.
    #[inline]
    fn notify(&self, id: CbId, event: NotifyEvent) {
        if self.watched.load(Ordering::Acquire) {
            self.notify_watchers(id, event);
        }
    }

    /// The rare case of [`Connector::notify`]: somebody watches some id.
    #[cold]
    #[inline(never)]
    fn notify_watchers(&self, id: CbId, event: NotifyEvent) {
        let msg = CnMsg {
            id,
            ack: event as u32,
            ..CnMsg::default()
        };
        let requests = self.requests.lock();
        for group in requests.groups_for(id) {
            // Nobody listening on the group (`ESRCH`) is no error for a notification.
            // SAFETY: No filter; a broadcast never waits.
            let _ = unsafe {
                self.send(
                    self.socket.socket(),
                    &msg,
                    &[msg.as_bytes()],
                    0,
                    group,
                    bindings::GFP_KERNEL,
                    None,
                    core::ptr::null_mut(),
                    false,
                )
            };
        }
    }

    /// The connector socket in `net`. `ECONNREFUSED` if it has none (yet): `net` is being set
    /// up.
    #[inline]
    fn socket_in<'a>(&'a self, net: Net<'a>) -> Result<NetlinkSocket<'a>> {
        if net.is_initial() {
            Ok(self.socket.socket())
        } else {
            self.namespaces.get(net).ok_or(ECONNREFUSED)
        }
    }

    /// Sends a `cn_msg` through `socket` as one netlink message made of `parts` in order
    /// (`header` is a copy of its header), routed as [`cn_abi::cn_netlink_send_mult`] says;
    /// waits for room at a port only if `may_wait`. Returns the bytes sent to a port, 0 for a
    /// broadcast.
    ///
    /// # Safety
    ///
    /// `filter`, if any, is safe to call with `filter_data` in the calling context; `may_wait`
    /// only where sleeping is allowed.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn send<const N: usize>(
        &self,
        socket: NetlinkSocket<'_>,
        header: &CnMsg,
        parts: &[&[u8]; N],
        portid: u32,
        group: u32,
        gfp: bindings::gfp_t,
        filter: bindings::netlink_filter_fn,
        filter_data: *mut c_void,
        may_wait: bool,
    ) -> Result<u32> {
        let group = if portid != 0 || group != 0 {
            group
        } else {
            self.queue.group_of(header.id).ok_or(ENODEV)?
        };
        // Netlink counts a group's listeners in all namespaces together: in a namespace where
        // nobody listens, a broadcast still gets built, and the broadcast says `ESRCH`.
        if portid == 0 && !socket.has_listeners(group) {
            return Err(ESRCH);
        }
        let skb = OutSkb::new_done(header.seq, parts, group, gfp)?;
        if group != 0 {
            // SAFETY: `filter` is safe to call here by our own safety requirements.
            unsafe { socket.broadcast(skb, portid, group, gfp, filter, filter_data) }.map(|()| 0)
        } else {
            // SAFETY: `may_wait` only where sleeping is allowed, by our safety requirements.
            unsafe { socket.unicast(skb, portid, may_wait) }
        }
    }

    /// Handles a datagram from userspace: its first [`MAX_MSGS_PER_DATAGRAM`] messages, each
    /// acked if asked to; the others are only answered, with `EMSGSIZE`, if they ask.
    #[inline(always)]
    fn receive(&self, skb: &InSkb<'_>) {
        let socket = skb.socket();
        let net = if socket == self.socket.socket() {
            Net::initial()
        } else {
            socket.net()
        };
        let mut offset = 0;
        // Messages of the datagram that may still be dispatched.
        let mut budget = MAX_MSGS_PER_DATAGRAM;
        while let Some(frame) = Frame::parse(skb.data(), offset) {
            if offset != 0 {
                cn_netlink::cond_resched();
            }
            offset = frame.next;
            let result = if budget != 0 {
                budget -= 1;
                // SAFETY: `Frame::parse` framed `frame` in `skb.data()`, just above, at offset 0
                // or at the `next` of the frame before: a multiple of 4.
                unsafe { self.dispatch(skb, net, frame, budget) }
            } else {
                Err(EMSGSIZE)
            };
            if u32::from(frame.nlmsg_flags) & bindings::NLM_F_ACK != 0 {
                skb.ack(frame.offset, frame.len, result);
            }
        }
    }

    /// Calls the callback registered for the id of the message `frame` if it passed the checks
    /// (`EINVAL` if not) and the callback takes messages from `net`, the sender's namespace
    /// (`ENODEV` if not, as for no callback), `budget` more messages of the datagram being left
    /// to handle.
    ///
    /// # Safety
    ///
    /// `frame` was returned by [`Frame::parse`] over `skb.data()`, at an offset that is a
    /// multiple of 4.
    #[inline(always)]
    unsafe fn dispatch(
        &self,
        skb: &InSkb<'_>,
        net: Net<'_>,
        frame: Frame,
        budget: usize,
    ) -> Result {
        if frame.id.is_none() {
            return Err(EINVAL);
        }
        // With an id, `Frame::parse` found a complete `cn_msg` with its data in the payload of
        // the message at `frame.offset` within `skb.data()`, which is 4-byte aligned (`InSkb`
        // invariant), as is `frame.offset` (our safety requirements).
        let msg = skb.payload_ptr(frame.offset).cast::<CnMsg>();
        // SAFETY: As just said. Nothing wrote the message since `Frame::parse` read the same id:
        // the callbacks of the messages before it returned before that. Read here rather than
        // kept from the parsing, where the compiler spills it across the lookup's calls.
        let id = unsafe { (*msg).id };
        let invocation = self.queue.invoke(id).ok_or(ENODEV)?;
        if !invocation.handler().accepts(net) {
            return Err(ENODEV);
        }
        let parms = skb.parms();
        match *invocation.handler() {
            Handler::Foreign(callback) => {
                // SAFETY: A complete `cn_msg` with its data lies at `msg`, aligned, as said above;
                // it and the sender's parameters stay valid during the call, and no Rust
                // reference to them is live.
                unsafe { callback(msg, parms.as_ptr()) };
            }
            Handler::Rust(RustCallback { callback, ctx, .. }) => {
                let delivery = Delivery {
                    id,
                    msg,
                    parms: parms.as_ptr(),
                    net: net.as_ptr(),
                    last_of_datagram: !cn_rx::more_for(skb.data(), frame.next, id, budget),
                };
                // SAFETY: As above, and `delivery` is valid during the call, with the sender's
                // namespace, held by the sending socket; an invocation of the callback registered
                // for the message's id, which may be called with `ctx` (`RustCallback`
                // invariant).
                unsafe { callback(ctx, &delivery) };
            }
            Handler::Control => {
                let msg = NonNull::new(msg).ok_or(EINVAL)?;
                // SAFETY: As above; nothing writes to the message while these views live, and the
                // sending socket in the parameters is held by its `sendmsg()`, which runs us,
                // during an invocation of the control id.
                let (msg, sender) = unsafe {
                    (
                        Message::from_raw(msg, true, net.as_non_null()),
                        Sender::from_raw(parms, id, net.as_non_null()),
                    )
                };
                self.control(&msg, &sender)?;
            }
        }
        Ok(())
    }

    /// Applies a notification request sent to the control id (rare: out of the receive path).
    #[cold]
    #[inline(never)]
    fn control(&self, msg: &Message<'_>, sender: &Sender<'_>) -> Result {
        if !sender.is_net_admin() {
            return Err(EPERM);
        }
        let request = NotifyRequest::parse(msg.data())?;
        let mut requests = self.requests.lock();
        let applied = requests.apply(request);
        self.watched.store(!requests.is_empty(), Ordering::Release);
        applied
    }
}

/// Where netlink keeps the connector's sockets in each network namespace.
static CN_NET_ID: NetId = NetId::new();

impl NetlinkProtocol for Connector {
    const UNIT: u32 = bindings::NETLINK_CONNECTOR;
    const GROUPS: u32 = CN_GROUPS;
    const NET_ID: &'static NetId = &CN_NET_ID;
    #[cfg(CONFIG_PROC_FS)]
    const PROC_NAME: &'static CStr = c"connector";

    fn module() -> &'static ThisModule {
        &<ConnectorModule as kernel::ModuleMetadata>::THIS_MODULE
    }

    /// A datagram sent to the connector by userspace.
    #[inline]
    fn input(skb: &InSkb<'_>) {
        if let Some(connector) = connector() {
            connector.receive(skb);
        }
    }

    /// `CAP_NET_ADMIN` in the socket's namespace, or only the process events group.
    fn bind(net: Net<'_>, group: u32) -> Result {
        if group != CN_IDX_PROC && !net.net_admin_capable() {
            return Err(EPERM);
        }
        Ok(())
    }

    /// Drops the socket's states in the core's table, whatever its groups (C frees them only for
    /// members of the process events group), and frees `sk_user_data` as the C connector does.
    fn release(sk: &ReleasedSocket<'_>) {
        // Off netlink's lists already: no broadcast filter reads its states any more, and no
        // callback runs for it (one would run inside the socket's `sendmsg()`).
        if let Some(connector) = connector() {
            connector.states.release_socket(sk.key());
        }
        // SAFETY: `CN_IDX_PROC` is one of the socket's `CN_GROUPS` groups. The core keeps nothing
        // in `sk_user_data`; C users of that group keep `kmalloc()`ed memory there (as the
        // kernel's process events connector does), which the C connector's release hook frees.
        unsafe { sk.kfree_user_data_if_member(CN_IDX_PROC) };
    }

    /// `/proc/net/connector`: the callbacks that take messages from `net`, in the C connector's
    /// format.
    #[cfg(CONFIG_PROC_FS)]
    fn show(m: &kernel::seq_file::SeqFile, net: Net<'_>) -> Result {
        kernel::seq_print!(m, "Name            ID\n");
        if let Some(connector) = connector() {
            connector.queue.for_each(|entry| {
                if !entry.handler().accepts(net) {
                    return;
                }
                let name = CallbackName(entry.name());
                kernel::seq_print!(m, "{:<15} {}:{}\n", name, entry.id().idx, entry.id().val);
            });
        }
        Ok(())
    }
}

/// A callback's name in `/proc/net/connector`, formatted as C's `%s` formats it: its bytes up
/// to the first NUL, padded to the width by their count. Bytes that are not UTF-8 cannot go
/// through Rust formatting and are shown as `\xNN`, which the padding counts as written.
#[cfg(CONFIG_PROC_FS)]
struct CallbackName<'a>(&'a [u8]);

#[cfg(CONFIG_PROC_FS)]
impl kernel::fmt::Display for CallbackName<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        let name = self.0.split(|&b| b == 0).next().unwrap_or_default();
        let mut written = 0;
        for chunk in name.utf8_chunks() {
            f.write_str(chunk.valid())?;
            written += chunk.valid().len();
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
                written += 4;
            }
        }
        for _ in written..f.width().unwrap_or(0) {
            f.write_str(" ")?;
        }
        Ok(())
    }
}

struct ConnectorModule {
    _connector: Pin<KBox<Connector>>,
}

impl kernel::Module for ConnectorModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        use module_parameters::{ctl_idx, ctl_val};
        let control_id = CbId::new(ctl_idx.value(), ctl_val.value());
        let connector = KBox::pin_init(Connector::new(control_id), GFP_KERNEL)?;
        // Complete: from here on, input is handled (before, it was ignored).
        CONNECTOR.store((&raw const *connector).cast_mut(), Ordering::Release);
        pr_info!("ready, control id {}:{}\n", control_id.idx, control_id.val);
        Ok(Self {
            _connector: connector,
        })
    }
}

impl Drop for ConnectorModule {
    fn drop(&mut self) {
        // Runs before the fields are dropped: first unpublish, then release the socket, remove
        // the `/proc` entry (waiting for readers) and free the rest.
        CONNECTOR.store(core::ptr::null_mut(), Ordering::Release);
    }
}

#[kunit_tests(cn_core)]
mod tests {
    use super::*;

    #[test]
    fn second_socket_for_the_unit_is_refused() {
        // KUnit runs this suite once the module is live, so the connector holds the unit: a
        // second kernel socket for it must fail (with nothing leaked) instead of stealing it.
        let second = KernelSocket::new::<Connector>(Net::initial());
        assert_eq!(second.err(), Some(EBUSY));
        assert!(connector().is_some());
    }

    #[cfg(CONFIG_PROC_FS)]
    #[test]
    fn callback_names_are_padded_by_bytes_as_in_c() {
        use connector_api::CN_CBQ_NAMELEN;
        use kernel::str::CString;
        let line = |name: &[u8]| CString::try_from_fmt(fmt!("{:<15}|", CallbackName(name)));
        let mut long = [b'n'; CN_CBQ_NAMELEN];
        long[CN_CBQ_NAMELEN - 1] = 0;
        let cases: [(&[u8], &[u8]); 6] = [
            (b"cn_test\0junk", b"cn_test        |"),
            (b"", b"               |"),
            (&long, &long[..CN_CBQ_NAMELEN - 1]),
            // Padded by bytes, as `%-15s`, not by characters.
            (
                "\u{e9}t\u{e9}\0".as_bytes(),
                "\u{e9}t\u{e9}          |".as_bytes(),
            ),
            (b"a\xffb\0", b"a\\xffb         |"),
            (b"fifteen_bytes__", b"fifteen_bytes__|"),
        ];
        for (name, expected) in cases {
            let got = line(name).unwrap();
            let got = got.to_bytes();
            if expected.ends_with(b"|") {
                assert_eq!(got, expected);
            } else {
                assert_eq!(&got[..expected.len()], expected);
                assert_eq!(&got[expected.len()..], b"|");
            }
        }
    }
}
