// SPDX-License-Identifier: GPL-2.0

//! Process events connector, in Rust: the counterpart of the kernel's
//! `drivers/connector/cn_proc.c` as a loadable module on top of our connector core.
//!
//! Registers `{CN_IDX_PROC, CN_VAL_PROC}` and speaks the protocol of `include/uapi/linux/cn_proc.h`
//! byte for byte: a listener joins group [`CN_IDX_PROC`], sends `PROC_CN_MCAST_LISTEN` (with an
//! event mask or without), and gets a `struct proc_event` for every fork, exec, exit, rename, core
//! dump, credential change, new session and ptrace attach or detach of a process that its mask
//! asks for, until it sends `PROC_CN_MCAST_IGNORE`.
//!
//! Most events come from kernel tracepoints, hooked with probes that never sleep
//! ([`tracepoint_probe`]); those that no tracepoint marks from function probes on kernel functions
//! ([`cn_proc_fprobes`], [`fprobe`]). `PROC_EVENTS.md` lists the few differences from the C
//! code. Raw `task_struct` and `cred` fields and namespaces are read in [`raw`]. Listeners in
//! other pid and user namespaces get the events in theirs ([`ns`]).

use core::mem::{align_of, offset_of, size_of};
use kernel::{
    bindings,
    cpu::CpuId,
    new_spinlock,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc, SpinLock,
    },
    task::{Pid, Task},
    time::{ClockSource, Monotonic},
    transmute::{AsBytes, FromBytes},
};

pub mod connector_api;
mod fprobe;
#[path = "cn_proc_ns.rs"]
mod ns;
#[path = "cn_proc_raw.rs"]
mod raw;
mod tracepoint_probe;

use cn_proc_fprobes::ProbedEvents;
use connector_api::{
    Callback, CbId, Destination, Filter, Message, Outgoing, Registration, Sender, Sleep,
    CN_IDX_PROC, CN_VAL_PROC,
};
use ns::{listening_in, listening_view, Listening, Namespaces, View, ViewId, INITIAL, VIEWS};
use tracepoint_probe::{probe, Probe, Probes};

module! {
    type: CnProcExample,
    name: "cn_proc_example",
    authors: ["Rust connector developers"],
    description: "Process events connector, in Rust",
    license: "GPL",
    params: {
        require_coredump: bool {
            default: false,
            description: "Fail to load without the coredump tracepoint (CONFIG_COREDUMP)",
        },
        probe_events: bool {
            default: true,
            description: "Send UID, GID, SID and PTRACE events (fprobes; see PROC_EVENTS.md)",
        },
    },
}

// The protocol of `include/uapi/linux/cn_proc.h`: operations of a request, then event types.

const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;

/// The acknowledgement of a listener's request.
const PROC_EVENT_NONE: u32 = 0x0000_0000;
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_UID: u32 = 0x0000_0004;
const PROC_EVENT_GID: u32 = 0x0000_0040;
const PROC_EVENT_SID: u32 = 0x0000_0080;
const PROC_EVENT_PTRACE: u32 = 0x0000_0100;
const PROC_EVENT_COMM: u32 = 0x0000_0200;
/// In a mask: also the exits with a non-zero exit code.
const PROC_EVENT_NONZERO_EXIT: u32 = 0x2000_0000;
const PROC_EVENT_COREDUMP: u32 = 0x4000_0000;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// Every event.
const PROC_EVENT_ALL: u32 = 0xe000_03c7;

/// The id of the process events connector.
const CN_PROC_ID: CbId = CbId::new(CN_IDX_PROC, CN_VAL_PROC);

/// The size of a command name, `comm[16]` (`TASK_COMM_LEN`).
const COMM_LEN: usize = 16;

/// The size of the union `event_data` of `struct proc_event`.
const EVENT_DATA_LEN: usize = 24;

/// Defines `#[repr(C)]` structures of the wire format that are plain bytes, `AsBytes` and
/// `FromBytes`: checked at compile time to have fields that are both and no padding. `= WHAT`
/// makes one a member of the union `event_data`, with that event type.
macro_rules! wire_structs {
    ($(
        $(#[$meta:meta])*
        struct $name:ident $(= $what:ident)? { $($field:ident: $ty:ty),* $(,)? }
    )*) => {$(
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        struct $name { $($field: $ty,)* }

        const _: () = {
            const fn plain<T: AsBytes + FromBytes>() -> usize {
                size_of::<T>()
            }
            assert!(size_of::<$name>() == 0 $(+ plain::<$ty>())*);
        };

        // SAFETY: A `#[repr(C)]` structure without padding whose fields are `AsBytes` (both
        // asserted above): all its bytes are initialised; it has no interior mutability.
        unsafe impl AsBytes for $name {}
        // SAFETY: As above, with fields that are `FromBytes`: every bit pattern is valid.
        unsafe impl FromBytes for $name {}

        $(impl EventData for $name {
            const WHAT: u32 = $what;
        })?
    )*};
}

wire_structs! {
    /// `struct proc_input`: a listener's request.
    struct ProcInput { mcast_op: u32, event_type: u32 }
    /// The member `ack` of the union `event_data`: 0, or a positive errno.
    struct AckEvent = PROC_EVENT_NONE { err: u32 }
    /// A task's pid and tgid, the fields `*_pid`, `*_tgid` of the event structures.
    struct Ids { pid: Pid, tgid: Pid }
    /// `struct fork_proc_event`.
    struct ForkEvent = PROC_EVENT_FORK { parent: Ids, child: Ids }
    /// `struct exec_proc_event`.
    struct ExecEvent = PROC_EVENT_EXEC { process: Ids }
    /// `struct comm_proc_event`.
    struct CommEvent = PROC_EVENT_COMM { process: Ids, comm: [u8; COMM_LEN] }
    /// `struct coredump_proc_event`.
    struct CoredumpEvent = PROC_EVENT_COREDUMP { process: Ids, parent: Ids }
    /// `struct exit_proc_event`.
    struct ExitEvent = PROC_EVENT_EXIT {
        process: Ids, exit_code: u32, exit_signal: u32, parent: Ids,
    }
    /// `struct proc_event`: the union `event_data` holds the bytes of the member in use, the rest
    /// zero.
    struct ProcEvent { what: u32, cpu: u32, timestamp_ns: u64, event_data: [u8; EVENT_DATA_LEN] }
}

// The layout of the uapi header (other offsets follow from the fields, without padding).
const _: () = {
    assert!(size_of::<ProcInput>() == 8);
    assert!(size_of::<AckEvent>() == 4);
    assert!(size_of::<Ids>() == 8 && offset_of!(Ids, tgid) == 4);
    assert!(size_of::<ForkEvent>() == 16 && size_of::<CoredumpEvent>() == 16);
    assert!(size_of::<ExecEvent>() == 8);
    assert!(size_of::<CommEvent>() == 24 && offset_of!(CommEvent, comm) == 8);
    assert!(size_of::<ExitEvent>() == 24 && offset_of!(ExitEvent, parent) == 16);
    assert!(size_of::<ProcEvent>() == 40 && align_of::<ProcEvent>() == 8);
    assert!(offset_of!(ProcEvent, timestamp_ns) == 8 && offset_of!(ProcEvent, event_data) == 16);
};

mod cn_proc_fprobes;

/// The size of `struct proc_event`: the data of every message this module sends.
const PROC_EVENT_LEN: usize = size_of::<ProcEvent>();

/// A member of the union `event_data`: the data of one type of event (see [`wire_structs`]).
trait EventData: AsBytes {
    /// `proc_event.what`.
    const WHAT: u32;
}

impl ProcEvent {
    /// The event `data`, sent from `cpu` at `timestamp_ns`.
    fn new<D: EventData>(data: &D, cpu: u32, timestamp_ns: u64) -> Self {
        const { assert!(size_of::<D>() <= EVENT_DATA_LEN) };
        let mut event_data = [0u8; EVENT_DATA_LEN];
        for (to, from) in event_data.iter_mut().zip(data.as_bytes()) {
            *to = *from;
        }
        Self {
            what: D::WHAT,
            cpu,
            timestamp_ns,
            event_data,
        }
    }

    /// The exit code of an exit event, else 0: what the filter looks at besides `what` (the C
    /// `filter_data`).
    fn exit_code(&self) -> u32 {
        match ExitEvent::from_bytes_copy(&self.event_data) {
            Some(exit) if self.what == PROC_EVENT_EXIT => exit.exit_code,
            _ => 0,
        }
    }
}

// Listeners.

/// The number of listening sockets, in all views: those whose last request was `LISTEN`. While
/// it is below one, no event is built at all. Kept by [`ns::publish`].
///
/// Each socket contributes at most one, and only its own requests change its contribution, which
/// goes when the socket closes (its [`Subscription`] is dropped). The C code counts requests, so
/// that any user can drive the count to zero and silence every listener, or keep it up forever.
static LISTENERS: Atomic<i32> = Atomic::new(0);

/// A listener's subscription and its share of the listener count, kept by the core for its
/// socket.
///
/// It changes under [`VIEWS`] only; the broadcast filter reads it at any time.
struct Subscription {
    /// The last operation it sent.
    mcast_op: Atomic<u32>,
    /// The events it wants (`PROC_EVENT_NONE` once it ignores).
    event_type: Atomic<u32>,
    /// Whether it listens, and in which view (see [`ns::Listening`]): that of the sender of its
    /// last accepted `LISTEN` unless an `IGNORE` came after it (unknown operations and refused
    /// `LISTEN`s change nothing); not listening before a `LISTEN` and after an `IGNORE`.
    /// It counts as one listener of that view and holds it (see [`ns::Table::listen`]) until
    /// the next `LISTEN` or `IGNORE`, or the drop. One word, written last with `Release` and
    /// read first with `Acquire`: a reader never sees the view of one request with the listening
    /// of another, and sees the mask and operation stored with the state it reads.
    listening: Atomic<Listening>,
}

impl Default for Subscription {
    fn default() -> Self {
        Self {
            mcast_op: Atomic::new(0),
            event_type: Atomic::new(PROC_EVENT_NONE),
            listening: Atomic::new(ns::NOT_LISTENING),
        }
    }
}

impl Subscription {
    /// Applies `request` from a sender in the namespaces `from` (`None`: the initial ones);
    /// returns the errno of the acknowledgement. A `LISTEN` from namespaces beyond the
    /// [`ns::MAX_VIEWS`] that subscriptions hold already, or beyond the
    /// [`ns::MAX_VIEWS_PER_USER`] of its user, changes nothing and is refused (`ENOSPC`,
    /// `EDQUOT`).
    fn apply(&self, request: ProcInput, from: Option<Namespaces>) -> u32 {
        let (listens, err) = listens_after(request.mcast_op);
        let mut views = VIEWS.lock();
        // Only requests change it, under the lock we hold.
        let old = self.listening.load(ordering::Relaxed);
        // An unknown operation changes neither the view nor the listening.
        let (listening, freed) = match listens {
            Some(true) => match views.listen(old, from) {
                Ok(new) => new,
                Err(e) => return e.to_errno().unsigned_abs(),
            },
            Some(false) => (ns::NOT_LISTENING, views.leave(old)),
            None => (old, None),
        };
        let event_type = match listens {
            Some(false) => PROC_EVENT_NONE,
            _ => request.event_type,
        };
        self.event_type.store(event_type, ordering::Relaxed);
        self.mcast_op.store(request.mcast_op, ordering::Relaxed);
        // Last, with `Release`: the filter that reads this state (`Acquire`) sees the mask and
        // operation above with it.
        self.listening.store(listening, ordering::Release);
        ns::publish(&views);
        drop(views);
        ns::free(freed);
        err
    }

    /// The view it listens in, `None` if it does not listen.
    fn view(&self) -> Option<ViewId> {
        listening_view(self.listening.load(ordering::Acquire))
    }
}

impl Drop for Subscription {
    /// The socket closed (or the module goes): it no longer listens, nor holds its view.
    fn drop(&mut self) {
        let mut views = VIEWS.lock();
        let freed = views.leave(self.listening.load(ordering::Relaxed));
        ns::publish(&views);
        drop(views);
        ns::free(freed);
    }
}

impl ProcInput {
    /// Parses a request: a `struct proc_input`, or a bare operation (legacy, for every event);
    /// `None` for another length (no answer then). The mask keeps only known events, and means
    /// every event if none is left.
    fn parse(data: &[u8]) -> Option<Self> {
        let (mcast_op, events) = match Self::from_bytes_copy(data) {
            Some(input) => (input.mcast_op, input.event_type & PROC_EVENT_ALL),
            None => (u32::from_bytes_copy(data)?, PROC_EVENT_ALL),
        };
        let event_type = match events {
            PROC_EVENT_NONE => PROC_EVENT_ALL,
            known => known,
        };
        Some(Self {
            mcast_op,
            event_type,
        })
    }
}

/// Whether a socket listens after a request of operation `op` (`None`: as before), and the errno
/// of the acknowledgement. An unknown operation changes nothing but is refused.
fn listens_after(op: u32) -> (Option<bool>, u32) {
    match op {
        PROC_CN_MCAST_LISTEN => (Some(true), 0),
        PROC_CN_MCAST_IGNORE => (Some(false), 0),
        _ => (None, EINVAL.to_errno().unsigned_abs()),
    }
}

/// The callback of `{CN_IDX_PROC, CN_VAL_PROC}`, listeners' requests, with what it shares with
/// the probes.
struct McastCtl {
    shared: Arc<Shared>,
}

impl Callback for McastCtl {
    fn receive(&self, msg: &Message<'_>, sender: &Sender<'_>) {
        let Some(request) = ProcInput::parse(msg.data()) else {
            return;
        };
        // The sender's namespaces: the view of its events if it listens. The callback runs in
        // the sender's context.
        let mut from_initial = false;
        // The host's network administrator (socket opener and sender) has no per-user limit.
        let admin = sender.is_net_admin();
        let subscribed = Namespaces::of_current(sender.net(), admin).and_then(|from| {
            from_initial = from.is_none();
            let (subscription, _) = sender.attach_socket_state::<Subscription>(Sleep::MayBlock)?;
            Ok(subscription.apply(request, from))
        });
        let err = subscribed.unwrap_or_else(|e| e.to_errno().unsigned_abs());
        // One acknowledgement per datagram, however many requests it packs.
        if !msg.is_last_of_datagram() {
            return;
        }
        let ack = msg.ack().wrapping_add(1);
        let state = sender.socket_state::<Subscription>();
        // It is broadcast in the requester's view only: that of its subscription if it listens,
        // else the initial one for a sender in the initial namespaces (as C), else none. A
        // refused `LISTEN` is answered to its sender only: the socket may listen in the view
        // of another sender (its descriptor passed), whose listeners must not see it.
        let refused_listen = request.mcast_op == PROC_CN_MCAST_LISTEN && err != 0;
        let view = match state.and_then(Subscription::view) {
            _ if refused_listen => None,
            Some(view) => Some(view),
            None => from_initial.then_some(INITIAL),
        };
        if let Some(view) = view {
            self.shared
                .send_in(1 << view, ack, |_| Some(AckEvent { err }));
        }
        // A refused request whose sender would not get the broadcast answer (it does not listen,
        // or not in that view, or filters it out) is answered directly.
        let event = ProcEvent::new(&AckEvent { err }, CpuId::current().as_u32(), 0);
        let received = view.is_some_and(|view| {
            let versioned = Versioned { event, view };
            ProcFilter::delivers(state, &versioned)
        });
        if err != 0 && !received {
            let _ = msg
                .reply(event.as_bytes())
                .send(Destination::Port(sender.portid()), Sleep::MayBlock);
        }
    }
}

// Sending.

/// Whether a socket subscribed with operation `op` and mask `events` gets an event of type `what`
/// with exit code `exit_code`: the rules of the C `cn_filter()`.
fn delivers(op: u32, events: u32, what: u32, exit_code: u32) -> bool {
    let nonzero_exit = what == PROC_EVENT_EXIT && exit_code != 0;
    op != PROC_CN_MCAST_IGNORE
        && (events == PROC_EVENT_ALL
            || events & what != 0
            || (nonzero_exit && events & PROC_EVENT_NONZERO_EXIT != 0))
}

/// An event as built for one view.
struct Versioned {
    event: ProcEvent,
    view: ViewId,
}

/// The broadcast filter: each listener gets what its subscription asks for, in its view. A socket
/// gets nothing unless it listens: not without a subscription (it joined the group but never
/// sent a request: the filter cannot know its namespaces), nor after an `IGNORE` or only
/// unknown operations (its view is that of its last `LISTEN`, none without one).
struct ProcFilter;

impl Filter for ProcFilter {
    type Data = Versioned;
    type State = Subscription;

    fn delivers(subscription: Option<&Subscription>, versioned: &Versioned) -> bool {
        let Some(s) = subscription else {
            return false;
        };
        let event = &versioned.event;
        // The view first (`Acquire`), then the mask and operation stored before it.
        s.view() == Some(versioned.view)
            && delivers(
                s.mcast_op.load(ordering::Relaxed),
                s.event_type.load(ordering::Relaxed),
                event.what,
                event.exit_code(),
            )
    }
}

/// What the probes and the callback share.
struct Shared {
    /// Per CPU: the initial view's sequence number of its next message (the other views keep
    /// theirs, see [`View::next_seq`]), behind a lock that also keeps the sender
    /// on that CPU until the message is sent, so that each CPU's messages go out in order (the C
    /// `local_lock`).
    seq: KVec<Pin<KBox<SpinLock<u32>>>>,
}

impl Shared {
    fn new() -> Result<Arc<Self>> {
        let cpus = kernel::cpu::nr_cpu_ids() as usize;
        let mut seq = KVec::with_capacity(cpus, GFP_KERNEL)?;
        for _ in 0..cpus {
            seq.push(
                KBox::pin_init(new_spinlock!(0, "cn_proc_seq"), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
        Ok(Arc::new(Self { seq }, GFP_KERNEL)?)
    }

    /// Sends the event that `build` makes (if any) for each view with listeners to the listeners
    /// of that view, in its network namespace, as the C `send_msg()`: with the view's next
    /// sequence number on this CPU and the CPU in the event, through the filter, never sleeping. While nobody listens,
    /// nothing is built. Failures (nobody in the group, no memory) lose the event, as in C.
    fn send<D: EventData>(&self, ack: u32, build: impl Fn(View<'_>) -> Option<D>) {
        self.send_in(ns::ALL_VIEWS, ack, build);
    }

    /// As [`Shared::send`], in the views of `views` (bit `v` for view `v`) only.
    fn send_in<D: EventData>(&self, views: u32, ack: u32, build: impl Fn(View<'_>) -> Option<D>) {
        if LISTENERS.load(ordering::Relaxed) < 1 {
            return;
        }
        let timestamp_ns = u64::try_from(Monotonic::ktime_get()).unwrap_or(0);
        loop {
            let cpu = CpuId::current();
            let Some(slot) = self.seq.get(cpu.as_u32() as usize) else {
                return;
            };
            let mut seq = slot.lock();
            // The lock keeps us on our CPU from here on; we may have moved before taking it.
            if CpuId::current() != cpu {
                continue;
            }
            ns::for_each_view(views, |view, id| {
                let Some(data) = build(view) else {
                    return;
                };
                let event = ProcEvent::new(&data, cpu.as_u32(), timestamp_ns);
                let msg = Outgoing {
                    id: CN_PROC_ID,
                    seq: view.next_seq(cpu.as_u32() as usize, &mut seq),
                    ack,
                    flags: 0,
                    data: event.as_bytes(),
                };
                let versioned = Versioned { event, view: id };
                // Nobody to deliver to (`ESRCH`) or no memory: the event is lost, as in C.
                let _ = msg.broadcast_filtered_in::<ProcFilter>(
                    view.net(),
                    CN_IDX_PROC,
                    &versioned,
                    Sleep::NoWait,
                );
            });
            return;
        }
    }
}

// The events.

/// The parent pids of an exiting task as the C code reports them: it sends the exit event after
/// `exit_notify()`, which releases an untraced non-leader thread (`exit_signal` -1) at once, and
/// the released task's parent then reads as 0.
fn exit_parent(exit_signal: i32, ptraced: bool, parent: Ids) -> Ids {
    if exit_signal < 0 && !ptraced {
        Ids { pid: 0, tgid: 0 }
    } else {
        parent
    }
}

/// A command name as the task has it after a rename to `name`: at most 15 bytes, NUL-padded.
fn task_comm(name: &[u8]) -> [u8; COMM_LEN] {
    let mut comm = [0u8; COMM_LEN];
    for (to, from) in comm.iter_mut().zip(name.iter().take(COMM_LEN - 1)) {
        *to = *from;
    }
    comm
}

impl Ids {
    /// No task: the ids of a parent or tracer that is not there, or not visible.
    const NONE: Self = Self { pid: 0, tgid: 0 };

    /// Those of `task`, in the initial pid namespace.
    fn of(task: &Task) -> Self {
        Self {
            pid: task.pid(),
            tgid: task.tgid(),
        }
    }
}

/// `sched_process_exit`: `task` (current) exits; its exit code is set. `None` where it is not
/// visible.
fn exit_event(task: &Task, view: View<'_>) -> Option<ExitEvent> {
    let (exit_code, exit_signal, ptraced) = raw::exit_status(task);
    Some(ExitEvent {
        process: view.ids(task)?,
        // The C structure has unsigned fields: -1 goes out as 0xffffffff.
        exit_code: exit_code as u32,
        exit_signal: exit_signal as u32,
        parent: exit_parent(exit_signal, ptraced, view.parent_ids(task)),
    })
}

/// Whether the rename of `task` (`task_rename`) makes an event: not for those that the C code does
/// not report, the rename of exec (current, in execve) and the naming of kernel and io_uring
/// worker threads. Checked before [`Shared::send`], which then costs nothing for them.
fn comm_reported(task: &Task) -> bool {
    let in_exec = core::ptr::eq(task.as_ptr(), Task::current_raw()) && raw::current_in_execve();
    !in_exec && !raw::is_kernel_worker(task)
}

/// `task_rename`: `task` (see [`comm_reported`]) is about to be renamed to `name`; `None` where it
/// is not visible.
fn comm_event(task: &Task, name: &CStr, view: View<'_>) -> Option<CommEvent> {
    Some(CommEvent {
        process: view.ids(task)?,
        comm: task_comm(name.to_bytes()),
    })
}

/// A probe of the tracepoint `$name` that sends the event its arguments make in each view, if
/// any.
macro_rules! event_probe {
    ($name:literal, |$view:ident; $($arg:ident: $ty:ty),*| $event:expr) => {
        probe!($name, |shared: &Shared $(, $arg: $ty)*| shared.send(0, |$view: View<'_>| $event))
    };
}

/// The probes, one per tracepoint; only `coredump` is optional (`CONFIG_COREDUMP`).
fn probes() -> [Probe<Shared>; 5] {
    // SAFETY: The prototypes are the `TP_PROTO`s of these tracepoints, led by the data pointer.
    // The tasks they get as references are valid during the call: the current task, or the child
    // of `sched_process_fork`, not yet woken up so that it cannot exit, or the task being renamed,
    // current or one of its threads. Nothing they call sleeps (`Shared::send` does not).
    unsafe {
        [
            // The parent of the child, not the forking task: they differ for threads and
            // CLONE_PARENT.
            event_probe!(c"sched_process_fork", |view; _parent: &Task, child: &Task| {
                Some(ForkEvent {
                    parent: view.parent_ids(child),
                    child: view.ids(child)?,
                })
            }),
            event_probe!(
                c"sched_process_exec",
                |view; p: &Task, _old_pid: bindings::pid_t, _bprm: *mut bindings::linux_binprm| {
                    Some(ExecEvent {
                        process: view.ids(p)?,
                    })
                }
            ),
            event_probe!(c"sched_process_exit", |view; p: &Task, _group_dead: bool| {
                exit_event(p, view)
            }),
            // The renames that make no event are left out before `send`: no sequence number
            // lock, no clock read for them.
            probe!(
                c"task_rename",
                |shared: &Shared, task: &Task, comm: *const c_char| {
                    if comm.is_null() || !comm_reported(task) {
                        return;
                    }
                    // SAFETY: A non-null `comm` is the new name, a NUL-terminated string valid
                    // during the call.
                    let name = unsafe { CStr::from_char_ptr(comm) };
                    shared.send(0, |view| comm_event(task, name, view))
                }
            ),
            event_probe!(c"coredump", |view; _sig: c_int| {
                let task = kernel::current!();
                Some(CoredumpEvent {
                    process: view.ids(task)?,
                    parent: view.parent_ids(task),
                })
            }),
        ]
    }
}

/// The module: the callback and the probes.
struct CnProcExample {
    // Dropped in this order: the probes are detached and waited for, then the callback.
    _probed_events: Option<ProbedEvents>,
    _probes: Probes<Shared>,
    _registration: Registration<McastCtl>,
}

impl kernel::Module for CnProcExample {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, at load, before anything can take the lock (the callback is not
        // registered yet).
        unsafe { VIEWS.init() };
        let shared = Shared::new()?;
        let callback = Arc::new(
            McastCtl {
                shared: shared.clone(),
            },
            GFP_KERNEL,
        )?;
        let registration = Registration::new_in(
            CN_PROC_ID,
            c"cn_proc",
            callback,
            connector_api::Namespaces::All,
        )
        .inspect_err(|e| pr_err!("cannot register with the connector: {:?}\n", e))?;
        let all = probes();
        let mut probes = Probes::new(shared.clone(), all.len())?;
        for probe in all {
            let name = probe.name();
            let optional = name == c"coredump" && !module_parameters::require_coredump.value();
            let Err(e) = probes.attach(probe) else {
                continue;
            };
            if e != ENOENT {
                pr_err!("cannot attach to tracepoint {}: {:?}\n", name, e);
            } else if optional {
                pr_info!("no tracepoint {}: its events are not sent\n", name);
                continue;
            } else {
                pr_err!("tracepoint {} not found\n", name);
            }
            return Err(e);
        }
        let probed_events = module_parameters::probe_events
            .value()
            .then(|| ProbedEvents::attach(&shared))
            .transpose()?;
        pr_info!("process events connector ready\n");
        Ok(Self {
            _probed_events: probed_events,
            _probes: probes,
            _registration: registration,
        })
    }
}

#[kunit_tests(cn_proc)]
mod tests {
    use super::*;

    #[test]
    fn proc_event_layout_is_the_uapi_one() {
        // The structures are asserted at compile time; here what goes on the wire: the 40 bytes
        // of a `proc_event`, the union zero past the member in use.
        let event = ProcEvent::new(&AckEvent { err: 22 }, 1, 0);
        let bytes = event.as_bytes();
        assert_eq!(bytes.len(), 40);
        assert_eq!(&bytes[..4], &PROC_EVENT_NONE.to_ne_bytes());
        assert_eq!(&bytes[16..20], &22u32.to_ne_bytes());
        assert!(bytes[20..].iter().all(|&b| b == 0));
    }

    fn ids(pid: Pid, tgid: Pid) -> Ids {
        Ids { pid, tgid }
    }

    /// The 32-bit words of the event `data` as it goes on the wire.
    fn words<D: EventData>(data: &D, timestamp_ns: u64) -> [u32; PROC_EVENT_LEN / 4] {
        let event = ProcEvent::new(data, 1, timestamp_ns);
        let bytes = event.as_bytes();
        core::array::from_fn(|i| u32::from_ne_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
    }

    #[test]
    fn events_encode_every_field_in_place() {
        let exit = ExitEvent {
            process: ids(101, 100),
            exit_code: 3 << 8,
            exit_signal: u32::MAX,
            parent: ids(7, 6),
        };
        // The timestamp in native (little-endian) order.
        let (l, h) = (0x5566_7788, 0x1122_3344);
        let expected = [PROC_EVENT_EXIT, 1, l, h, 101, 100, 768, u32::MAX, 7, 6];
        assert_eq!(words(&exit, 0x1122_3344_5566_7788), expected);

        // Unused bytes of the union are zero.
        let fork = ForkEvent {
            parent: ids(1, 2),
            child: ids(3, 4),
        };
        assert_eq!(
            words(&fork, 0),
            [PROC_EVENT_FORK, 1, 0, 0, 1, 2, 3, 4, 0, 0]
        );
        let expected = [PROC_EVENT_NONE, 1, 0, 0, 22, 0, 0, 0, 0, 0];
        assert_eq!(words(&AckEvent { err: 22 }, 0), expected);

        let comm = CommEvent {
            process: ids(5, 5),
            comm: task_comm(b"renamed"),
        };
        let event = ProcEvent::new(&comm, 0, 0);
        assert_eq!(event.what, PROC_EVENT_COMM);
        assert_eq!(&event.as_bytes()[24..40], b"renamed\0\0\0\0\0\0\0\0\0");
        // And back: the wire bytes are the event.
        assert_eq!(ProcEvent::from_bytes_copy(event.as_bytes()), Some(event));
    }

    #[test]
    fn filter_decisions() {
        use super::{
            PROC_CN_MCAST_IGNORE as I, PROC_CN_MCAST_LISTEN as L, PROC_EVENT_ALL as ALL,
            PROC_EVENT_COMM as COMM, PROC_EVENT_EXEC as EXEC, PROC_EVENT_EXIT as EXIT,
            PROC_EVENT_FORK as FORK, PROC_EVENT_NONE as NONE, PROC_EVENT_NONZERO_EXIT as NZ,
        };
        // (operation, mask, event, exit code, delivered)
        let table: [(u32, u32, u32, u32, bool); 22] = [
            (L, ALL, FORK, 0, true),
            (L, ALL, EXIT, 0, true),
            (L, ALL, NONE, 0, true),
            (I, ALL, FORK, 0, false),
            (I, NONE, NONE, 0, false),
            (L, FORK, FORK, 0, true),
            (L, FORK, EXEC, 0, false),
            (L, FORK, NONE, 0, false),
            (L, FORK | EXEC, EXEC, 0, true),
            (L, COMM, COMM, 0, true),
            (L, COMM, EXIT, 1, false),
            (L, EXIT, EXIT, 0, true),
            (L, EXIT, EXIT, 256, true),
            (L, NZ, EXIT, 0, false),
            (L, NZ, EXIT, 768, true),
            (L, NZ, FORK, 0, false),
            (L, NZ | EXIT, EXIT, 0, true),
            (L, NZ | FORK, FORK, 0, true),
            (L, NZ | FORK, EXIT, 0, false),
            (L, NZ | FORK, EXIT, 9, true),
            // An unknown operation leaves the mask in force.
            (3, FORK, FORK, 0, true),
            (3, FORK, EXEC, 0, false),
        ];
        for (op, mask, what, exit_code, delivered) in table {
            assert_eq!(delivers(op, mask, what, exit_code), delivered);
        }
    }

    #[test]
    fn each_socket_gets_the_messages_of_its_view() {
        let event = ProcEvent::new(&ExecEvent { process: ids(1, 1) }, 0, 0);
        let built_for = |view| Versioned { event, view };
        // A socket without a subscription: nothing, in no view.
        for view in [INITIAL, 1] {
            assert!(!ProcFilter::delivers(None, &built_for(view)));
        }
        // A socket whose only request was an unknown operation (refused): nothing either.
        let unknown = Subscription::default();
        let op7 = ProcInput {
            mcast_op: 7,
            event_type: PROC_EVENT_ALL,
        };
        assert_eq!(unknown.apply(op7, None), 22);
        for view in [INITIAL, 1] {
            assert!(!ProcFilter::delivers(Some(&unknown), &built_for(view)));
        }
        let s = Subscription::default();
        s.mcast_op.store(PROC_CN_MCAST_LISTEN, ordering::Relaxed);
        s.event_type.store(PROC_EVENT_ALL, ordering::Relaxed);
        s.listening.store(listening_in(INITIAL), ordering::Relaxed);
        for (view, delivered) in [(INITIAL, true), (1, false), (2, false)] {
            assert_eq!(ProcFilter::delivers(Some(&s), &built_for(view)), delivered);
        }
        s.listening.store(listening_in(2), ordering::Relaxed);
        for (view, delivered) in [(INITIAL, false), (1, false), (2, true)] {
            assert_eq!(ProcFilter::delivers(Some(&s), &built_for(view)), delivered);
        }
        // The mask still applies in the view.
        s.event_type.store(PROC_EVENT_FORK, ordering::Relaxed);
        assert!(!ProcFilter::delivers(Some(&s), &built_for(2)));
        // Not listening: nothing in any view, whatever the mask and operation. (It holds no
        // view and is not counted: nothing to give back when it goes.)
        s.event_type.store(PROC_EVENT_ALL, ordering::Relaxed);
        s.listening.store(ns::NOT_LISTENING, ordering::Relaxed);
        for view in [INITIAL, 1, 2] {
            assert!(!ProcFilter::delivers(Some(&s), &built_for(view)));
        }
    }

    #[test]
    fn requests_and_listener_counting() {
        let listen = |event_type| ProcInput {
            mcast_op: PROC_CN_MCAST_LISTEN,
            event_type,
        };
        let parse = |event_type| ProcInput::parse(listen(event_type).as_bytes());
        assert_eq!(parse(0x3), Some(listen(0x3)));
        // Unknown bits are dropped; nothing left means everything.
        assert_eq!(parse(0x400), Some(listen(PROC_EVENT_ALL)));
        assert_eq!(parse(0x401), Some(listen(1)));
        assert_eq!(parse(0), Some(listen(PROC_EVENT_ALL)));
        // Legacy: the bare operation.
        let ignore = ProcInput::parse(&2u32.to_ne_bytes());
        assert_eq!(
            ignore.map(|i| (i.mcast_op, i.event_type)),
            Some((2, PROC_EVENT_ALL))
        );
        // At any alignment.
        let mut unaligned = [0u8; 9];
        unaligned[1..].copy_from_slice(listen(0x3).as_bytes());
        assert_eq!(ProcInput::parse(&unaligned[1..]), Some(listen(0x3)));
        for len in [0, 3, 5, 7, 9, 12] {
            assert_eq!(ProcInput::parse(&[1u8; 12][..len]), None);
        }

        // operation -> (listening after, errno): only LISTEN and IGNORE change anything.
        let table: [(u32, (Option<bool>, u32)); 5] = [
            (PROC_CN_MCAST_LISTEN, (Some(true), 0)),
            (PROC_CN_MCAST_IGNORE, (Some(false), 0)),
            (7, (None, 22)),
            (0, (None, 22)),
            (u32::MAX, (None, 22)),
        ];
        for (op, expected) in table {
            assert_eq!(listens_after(op), expected);
        }
    }

    #[test]
    fn a_socket_counts_once_and_until_it_goes() {
        let before = LISTENERS.load(ordering::Relaxed);
        let count = || LISTENERS.load(ordering::Relaxed) - before;
        let request = |mcast_op| ProcInput {
            mcast_op,
            event_type: PROC_EVENT_ALL,
        };
        let (listen, ignore) = (request(PROC_CN_MCAST_LISTEN), request(PROC_CN_MCAST_IGNORE));
        let a = Subscription::default();
        let b = Subscription::default();
        assert_eq!(a.apply(listen, None), 0);
        assert_eq!(a.apply(listen, None), 0);
        assert_eq!(count(), 1);
        b.apply(listen, None);
        assert_eq!(count(), 2);
        // An IGNORE of one socket cannot uncount another, however often it comes; nor can an
        // unknown operation.
        for op in [ignore, ignore, request(7), ignore, request(7)] {
            b.apply(op, None);
        }
        assert_eq!(count(), 1);
        // One listens in the initial view, the other not at all.
        assert_eq!((a.view(), b.view()), (Some(INITIAL), None));
        // A socket that closes while listening takes its share with it.
        drop(a);
        assert_eq!(count(), 0);
        drop(b);
        assert_eq!(count(), 0);
    }

    #[test]
    fn exit_parent_and_comm_rules() {
        // A leader, a traced thread: the parent; an untraced thread: released before the C
        // code reads it.
        let parent = ids(5, 5);
        assert_eq!(exit_parent(17, false, parent), parent);
        assert_eq!(exit_parent(0, false, parent), parent);
        assert_eq!(exit_parent(-1, true, parent), parent);
        assert_eq!(exit_parent(-1, false, parent), ids(0, 0));

        // A kernel thread's renames (KUnit runs the test in one) make no event.
        assert!(!comm_reported(kernel::current!()));
        assert_eq!(&task_comm(b""), &[0u8; 16]);
        assert_eq!(&task_comm(b"sh"), b"sh\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(&task_comm(b"exactly15chars!"), b"exactly15chars!\0");
        assert_eq!(&task_comm(b"a name longer than 15"), b"a name longer t\0");
    }
}
