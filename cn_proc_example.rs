// SPDX-License-Identifier: GPL-2.0

//! Process events connector, in Rust: the counterpart of the kernel's
//! `drivers/connector/cn_proc.c` as a loadable module on top of our connector core.
//!
//! Registers `{CN_IDX_PROC, CN_VAL_PROC}` and speaks the protocol of `include/uapi/linux/cn_proc.h`
//! byte for byte, so that existing process monitors work unchanged: a listener joins group
//! [`CN_IDX_PROC`] and sends `PROC_CN_MCAST_LISTEN` (a bare operation, or a `struct proc_input`
//! with an event mask); it is answered with a `PROC_EVENT_NONE` acknowledgement and from then on
//! gets a `struct proc_event` for every fork, exec, exit and rename of a process (and every core
//! dump, where the kernel has the tracepoint for it), filtered by its mask, until it sends
//! `PROC_CN_MCAST_IGNORE`.
//!
//! The events come from kernel tracepoints (`sched_process_fork`, `sched_process_exec`,
//! `sched_process_exit`, `task_rename`, `coredump`), found at load time and hooked with probes that
//! never sleep. The listener count, the per-socket filter state, the credential rules, the
//! filter and the per-CPU sequence numbers follow the C code; `PROC_EVENTS.md` lists the events
//! that a module cannot produce and the few differences.
//!
//! Everything that touches raw kernel structures (tracepoints, `task_struct` fields, namespaces)
//! is in the [`raw`] module; the rest is safe Rust over the API of `connector_api.rs`.

use core::mem::{offset_of, size_of};
use kernel::{
    cpu::CpuId,
    new_spinlock,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc, SpinLock,
    },
    task::{Pid, Task},
    time::{ClockSource, Monotonic},
};

pub mod connector_api;

use connector_api::{
    Callback, CbId, Filter, Message, Outgoing, Registration, Sender, Sleep, CN_IDX_PROC,
    CN_VAL_PROC,
};

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
    },
}

// The protocol of `include/uapi/linux/cn_proc.h`.

/// `PROC_CN_MCAST_LISTEN`: start getting events.
const PROC_CN_MCAST_LISTEN: u32 = 1;
/// `PROC_CN_MCAST_IGNORE`: stop getting events.
const PROC_CN_MCAST_IGNORE: u32 = 2;

/// `PROC_EVENT_NONE`: the acknowledgement of a listener's request.
const PROC_EVENT_NONE: u32 = 0x0000_0000;
/// `PROC_EVENT_FORK`.
const PROC_EVENT_FORK: u32 = 0x0000_0001;
/// `PROC_EVENT_EXEC`.
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
/// `PROC_EVENT_UID` (not sent by this module).
const PROC_EVENT_UID: u32 = 0x0000_0004;
/// `PROC_EVENT_GID` (not sent by this module).
const PROC_EVENT_GID: u32 = 0x0000_0040;
/// `PROC_EVENT_SID` (not sent by this module).
const PROC_EVENT_SID: u32 = 0x0000_0080;
/// `PROC_EVENT_PTRACE` (not sent by this module).
const PROC_EVENT_PTRACE: u32 = 0x0000_0100;
/// `PROC_EVENT_COMM`.
const PROC_EVENT_COMM: u32 = 0x0000_0200;
/// `PROC_EVENT_NONZERO_EXIT`: in a mask, also the exits with a non-zero exit code.
const PROC_EVENT_NONZERO_EXIT: u32 = 0x2000_0000;
/// `PROC_EVENT_COREDUMP`.
const PROC_EVENT_COREDUMP: u32 = 0x4000_0000;
/// `PROC_EVENT_EXIT`.
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `PROC_EVENT_ALL`: every event.
const PROC_EVENT_ALL: u32 = PROC_EVENT_FORK
    | PROC_EVENT_EXEC
    | PROC_EVENT_UID
    | PROC_EVENT_GID
    | PROC_EVENT_SID
    | PROC_EVENT_PTRACE
    | PROC_EVENT_COMM
    | PROC_EVENT_NONZERO_EXIT
    | PROC_EVENT_COREDUMP
    | PROC_EVENT_EXIT;

/// The id of the process events connector.
const CN_PROC_ID: CbId = CbId::new(CN_IDX_PROC, CN_VAL_PROC);

/// The size of a command name, `comm[16]` (`TASK_COMM_LEN`).
const COMM_LEN: usize = 16;

/// The acknowledgement's member of the union `event_data`: `ack`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AckEvent {
    /// 0, or a positive errno.
    err: u32,
}

/// `struct fork_proc_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ForkEvent {
    parent_pid: Pid,
    parent_tgid: Pid,
    child_pid: Pid,
    child_tgid: Pid,
}

/// `struct exec_proc_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExecEvent {
    process_pid: Pid,
    process_tgid: Pid,
}

/// `struct comm_proc_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CommEvent {
    process_pid: Pid,
    process_tgid: Pid,
    comm: [u8; COMM_LEN],
}

/// `struct coredump_proc_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CoredumpEvent {
    process_pid: Pid,
    process_tgid: Pid,
    parent_pid: Pid,
    parent_tgid: Pid,
}

/// `struct exit_proc_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExitEvent {
    process_pid: Pid,
    process_tgid: Pid,
    exit_code: u32,
    exit_signal: u32,
    parent_pid: Pid,
    parent_tgid: Pid,
}

/// The size of the union `event_data`: its largest members.
const EVENT_DATA_LEN: usize = max(size_of::<ExitEvent>(), size_of::<CommEvent>());

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// `struct proc_event`, with the union `event_data` as the bytes of the member in use.
#[repr(C)]
struct ProcEvent {
    what: u32,
    cpu: u32,
    timestamp_ns: u64,
    event_data: [u8; EVENT_DATA_LEN],
}

/// The size of `struct proc_event`: the data of every message this module sends.
const PROC_EVENT_LEN: usize = size_of::<ProcEvent>();

/// Writes native-endian values at given offsets of a zeroed buffer.
struct Writer<'a>(&'a mut [u8]);

impl Writer<'_> {
    fn bytes(&mut self, offset: usize, bytes: &[u8]) {
        self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    fn u32(&mut self, offset: usize, value: u32) {
        self.bytes(offset, &value.to_ne_bytes());
    }

    fn pid(&mut self, offset: usize, value: Pid) {
        self.bytes(offset, &value.to_ne_bytes());
    }
}

impl ProcEvent {
    /// The event's bytes as they go on the wire, every byte defined.
    fn to_bytes(&self) -> [u8; PROC_EVENT_LEN] {
        let mut out = [0u8; PROC_EVENT_LEN];
        let mut w = Writer(&mut out);
        w.u32(offset_of!(ProcEvent, what), self.what);
        w.u32(offset_of!(ProcEvent, cpu), self.cpu);
        w.bytes(
            offset_of!(ProcEvent, timestamp_ns),
            &self.timestamp_ns.to_ne_bytes(),
        );
        w.bytes(offset_of!(ProcEvent, event_data), &self.event_data);
        out
    }
}

/// One event: the member of the union `event_data` in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Ack(AckEvent),
    Fork(ForkEvent),
    Exec(ExecEvent),
    Comm(CommEvent),
    Coredump(CoredumpEvent),
    Exit(ExitEvent),
}

impl Event {
    /// `proc_event.what`.
    fn what(&self) -> u32 {
        match self {
            Event::Ack(_) => PROC_EVENT_NONE,
            Event::Fork(_) => PROC_EVENT_FORK,
            Event::Exec(_) => PROC_EVENT_EXEC,
            Event::Comm(_) => PROC_EVENT_COMM,
            Event::Coredump(_) => PROC_EVENT_COREDUMP,
            Event::Exit(_) => PROC_EVENT_EXIT,
        }
    }

    /// What the filter gets to see of the event: its type and, for an exit, the exit code.
    fn filter_data(&self) -> FilterData {
        FilterData {
            what: self.what(),
            exit_code: match self {
                Event::Exit(e) => e.exit_code,
                _ => 0,
            },
        }
    }

    /// The union `event_data`, the unused bytes zero.
    fn data_bytes(&self) -> [u8; EVENT_DATA_LEN] {
        let mut out = [0u8; EVENT_DATA_LEN];
        let mut w = Writer(&mut out);
        match self {
            Event::Ack(e) => w.u32(offset_of!(AckEvent, err), e.err),
            Event::Fork(e) => {
                w.pid(offset_of!(ForkEvent, parent_pid), e.parent_pid);
                w.pid(offset_of!(ForkEvent, parent_tgid), e.parent_tgid);
                w.pid(offset_of!(ForkEvent, child_pid), e.child_pid);
                w.pid(offset_of!(ForkEvent, child_tgid), e.child_tgid);
            }
            Event::Exec(e) => {
                w.pid(offset_of!(ExecEvent, process_pid), e.process_pid);
                w.pid(offset_of!(ExecEvent, process_tgid), e.process_tgid);
            }
            Event::Comm(e) => {
                w.pid(offset_of!(CommEvent, process_pid), e.process_pid);
                w.pid(offset_of!(CommEvent, process_tgid), e.process_tgid);
                w.bytes(offset_of!(CommEvent, comm), &e.comm);
            }
            Event::Coredump(e) => {
                w.pid(offset_of!(CoredumpEvent, process_pid), e.process_pid);
                w.pid(offset_of!(CoredumpEvent, process_tgid), e.process_tgid);
                w.pid(offset_of!(CoredumpEvent, parent_pid), e.parent_pid);
                w.pid(offset_of!(CoredumpEvent, parent_tgid), e.parent_tgid);
            }
            Event::Exit(e) => {
                w.pid(offset_of!(ExitEvent, process_pid), e.process_pid);
                w.pid(offset_of!(ExitEvent, process_tgid), e.process_tgid);
                w.u32(offset_of!(ExitEvent, exit_code), e.exit_code);
                w.u32(offset_of!(ExitEvent, exit_signal), e.exit_signal);
                w.pid(offset_of!(ExitEvent, parent_pid), e.parent_pid);
                w.pid(offset_of!(ExitEvent, parent_tgid), e.parent_tgid);
            }
        }
        out
    }

    /// The whole `struct proc_event`, sent from `cpu` at `timestamp_ns`.
    fn encode(self, cpu: u32, timestamp_ns: u64) -> [u8; PROC_EVENT_LEN] {
        ProcEvent {
            what: self.what(),
            cpu,
            timestamp_ns,
            event_data: self.data_bytes(),
        }
        .to_bytes()
    }
}

// Listeners.

/// The number of listening sockets: those whose last request was `LISTEN`. While it is below one,
/// no event is built at all.
///
/// Each socket contributes at most one, and only its own requests change its contribution, which
/// goes when the socket closes (its [`ProcInput`] is dropped). The C code counts requests
/// instead (up on every `LISTEN` after anything but `LISTEN`, down on every `IGNORE` after
/// anything but `IGNORE`, never down at close): there, any user can drive the count to zero and
/// silence every listener, or keep it up forever.
static LISTENERS: Atomic<i32> = Atomic::new(0);

/// Whether anybody listens.
fn listening() -> bool {
    LISTENERS.load(ordering::Relaxed) >= 1
}

/// A listener's subscription (`struct proc_input`) and its share of the listener count, kept by
/// the core for its socket.
struct ProcInput {
    /// The last operation it sent.
    mcast_op: Atomic<u32>,
    /// The events it wants (`PROC_EVENT_NONE` once it ignores).
    event_type: Atomic<u32>,
    /// 1 while the socket counts in [`LISTENERS`], else 0.
    counted: Atomic<i32>,
}

impl Default for ProcInput {
    fn default() -> Self {
        Self {
            mcast_op: Atomic::new(0),
            event_type: Atomic::new(PROC_EVENT_NONE),
            counted: Atomic::new(0),
        }
    }
}

impl ProcInput {
    /// Makes the socket count as a listener, or not; the count changes only if this does.
    ///
    /// Two senders on one socket may race. The count goes up before the socket is marked
    /// counted, and down only after a sender took the mark off, so that the count may run ahead
    /// of the listening sockets for a moment but never lags behind them: a racing `IGNORE` cannot
    /// hide another socket's `LISTEN`.
    fn set_counted(&self, counted: bool) {
        if counted {
            LISTENERS.fetch_add(1, ordering::Full);
            if self.counted.xchg(1, ordering::Full) == 1 {
                LISTENERS.fetch_sub(1, ordering::Full);
            }
        } else if self.counted.xchg(0, ordering::Full) == 1 {
            LISTENERS.fetch_sub(1, ordering::Full);
        }
    }
}

impl Drop for ProcInput {
    /// The socket closed (or the module goes): it no longer listens.
    fn drop(&mut self) {
        self.set_counted(false);
    }
}

/// A listener's request: `struct proc_input`, or a bare `enum proc_cn_mcast_op` (legacy, for every
/// event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    op: u32,
    events: u32,
}

impl Request {
    /// Parses the data of a request; `None` for a length that is neither form (no answer then).
    ///
    /// The mask keeps only known events, and means every event if none is left.
    fn parse(data: &[u8]) -> Option<Self> {
        let word = |i: usize| {
            let bytes = data.get(4 * i..4 * i + 4)?;
            Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        };
        let (op, events) = match data.len() {
            8 => (word(0)?, word(1)?),
            4 => (word(0)?, PROC_EVENT_ALL),
            _ => return None,
        };
        let events = match events & PROC_EVENT_ALL {
            PROC_EVENT_NONE => PROC_EVENT_ALL,
            known => known,
        };
        Some(Self { op, events })
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

/// Applies a request sent from `sender`'s socket; returns the errno of the acknowledgement.
fn control(request: Request, sender: &Sender<'_>) -> u32 {
    let state = match sender.attach_socket_state::<ProcInput>(Sleep::MayBlock) {
        Ok((state, _)) => state,
        Err(e) => return e.to_errno().unsigned_abs(),
    };
    state.event_type.store(request.events, ordering::Relaxed);
    state.mcast_op.store(request.op, ordering::Relaxed);
    let (listens, err) = listens_after(request.op);
    if let Some(listens) = listens {
        state.set_counted(listens);
    }
    if request.op == PROC_CN_MCAST_IGNORE {
        state.event_type.store(PROC_EVENT_NONE, ordering::Relaxed);
    }
    err
}

/// The callback of `{CN_IDX_PROC, CN_VAL_PROC}`: listeners' requests.
struct McastCtl;

impl Callback for McastCtl {
    fn receive(&self, msg: &Message<'_>, sender: &Sender<'_>) {
        // Events carry pids and ids of the initial namespaces: requests from elsewhere are
        // ignored, unanswered.
        if !raw::current_in_init_namespaces() {
            return;
        }
        let Some(request) = Request::parse(msg.data()) else {
            return;
        };
        let err = control(request, sender);
        // One acknowledgement per datagram, however many requests it packs: it is broadcast to
        // every listener.
        if !msg.is_last_of_datagram() {
            return;
        }
        if let Some(shared) = Shared::published() {
            if listening() {
                shared.send(&Event::Ack(AckEvent { err }), msg.ack().wrapping_add(1));
            }
        }
    }
}

// Sending.

/// What the filter decides on: the event's type and, for an exit, its exit code (the C
/// `filter_data`).
struct FilterData {
    what: u32,
    exit_code: u32,
}

/// Whether a socket subscribed with operation `op` and mask `events` gets an event: the rules of
/// the C `cn_filter()`.
fn delivers(op: u32, events: u32, event: &FilterData) -> bool {
    if op == PROC_CN_MCAST_IGNORE {
        return false;
    }
    if events == PROC_EVENT_ALL {
        return true;
    }
    if events & PROC_EVENT_NONZERO_EXIT != 0
        && event.what == PROC_EVENT_EXIT
        && event.exit_code != 0
    {
        return true;
    }
    events & event.what != 0
}

/// The broadcast filter: each listener gets what its subscription asks for; sockets without one
/// (that joined the group but never sent a request) get everything.
struct ProcFilter;

impl Filter for ProcFilter {
    type Data = FilterData;
    type State = ProcInput;

    fn delivers(input: Option<&ProcInput>, data: &FilterData) -> bool {
        input.is_none_or(|input| {
            delivers(
                input.mcast_op.load(ordering::Relaxed),
                input.event_type.load(ordering::Relaxed),
                data,
            )
        })
    }
}

/// What the probes and the callback share.
struct Shared {
    /// Per CPU: the sequence number of its next message, behind a lock that also keeps the sender
    /// on that CPU until the message is sent, so that each CPU's messages go out in order (the C
    /// `local_lock`).
    seq: KVec<Pin<KBox<SpinLock<u32>>>>,
}

kernel::sync::global_lock! {
    // SAFETY: Initialised in the module initialiser (`raw::init_published`), before first use.
    unsafe(uninit) static PUBLISHED: SpinLock<Option<Arc<Shared>>> = None;
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

    /// The shared state for the connector callback, which gets no context of its own.
    fn published() -> Option<Arc<Self>> {
        PUBLISHED.lock().clone()
    }

    /// Sends `event` to the listeners, as the C `send_msg()`: with this CPU's next sequence number
    /// and the CPU in the event, through the filter, never sleeping. Failures (nobody in the
    /// group, no memory) lose the event, as in C.
    fn send(&self, event: &Event, ack: u32) {
        let timestamp_ns = u64::try_from(Monotonic::ktime_get()).unwrap_or(0);
        let filter_data = event.filter_data();
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
            let data = event.encode(cpu.as_u32(), timestamp_ns);
            let msg = Outgoing {
                id: CN_PROC_ID,
                seq: *seq,
                ack,
                flags: 0,
                data: &data,
            };
            *seq = seq.wrapping_add(1);
            // Nobody to deliver to (`ESRCH`) or no memory: the event is lost, as in C.
            let _ = msg.broadcast_filtered::<ProcFilter>(CN_IDX_PROC, &filter_data, Sleep::NoWait);
            return;
        }
    }
}

// The events.

/// The parent pids of an exiting task as the C code reports them: it sends the exit event after
/// `exit_notify()`, which releases an untraced non-leader thread (`exit_signal` -1) at once, and
/// the released task's parent then reads as 0.
fn exit_parent(exit_signal: i32, ptraced: bool, parent: (Pid, Pid)) -> (Pid, Pid) {
    if exit_signal < 0 && !ptraced {
        (0, 0)
    } else {
        parent
    }
}

/// A command name as the task has it after a rename to `name`: at most 15 bytes, NUL-padded.
fn task_comm(name: &[u8]) -> [u8; COMM_LEN] {
    let mut comm = [0u8; COMM_LEN];
    let len = name.len().min(COMM_LEN - 1);
    comm[..len].copy_from_slice(&name[..len]);
    comm
}

/// `sched_process_fork`: `child` was just created (not yet running).
fn on_fork(shared: &Shared, child: &Task) {
    if !listening() {
        return;
    }
    // The parent of the child, not the forking task: they differ for threads and CLONE_PARENT.
    let (parent_pid, parent_tgid) = raw::real_parent(child);
    let event = ForkEvent {
        parent_pid,
        parent_tgid,
        child_pid: child.pid(),
        child_tgid: child.tgid(),
    };
    shared.send(&Event::Fork(event), 0);
}

/// `sched_process_exec`: `task` (current) runs a new program.
fn on_exec(shared: &Shared, task: &Task) {
    if !listening() {
        return;
    }
    let event = ExecEvent {
        process_pid: task.pid(),
        process_tgid: task.tgid(),
    };
    shared.send(&Event::Exec(event), 0);
}

/// `sched_process_exit`: `task` (current) exits; its exit code is set.
fn on_exit(shared: &Shared, task: &Task) {
    if !listening() {
        return;
    }
    let status = raw::exit_status(task);
    let (parent_pid, parent_tgid) =
        exit_parent(status.exit_signal, status.ptraced, raw::real_parent(task));
    let event = ExitEvent {
        process_pid: task.pid(),
        process_tgid: task.tgid(),
        // The C structure has unsigned fields: -1 goes out as 0xffffffff.
        exit_code: status.exit_code as u32,
        exit_signal: status.exit_signal as u32,
        parent_pid,
        parent_tgid,
    };
    shared.send(&Event::Exit(event), 0);
}

/// `task_rename`: `task` is about to be renamed to `name`.
fn on_rename(shared: &Shared, task: &Task, name: &[u8]) {
    if !listening() {
        return;
    }
    // The C code reports renames through prctl(PR_SET_NAME) and /proc/<pid>/comm, not those of
    // exec (current, in execve) nor the naming of kernel and io_uring worker threads.
    let in_exec = core::ptr::eq(task.as_ptr(), Task::current_raw()) && raw::current_in_execve();
    if in_exec || raw::is_kernel_worker(task) {
        return;
    }
    let event = CommEvent {
        process_pid: task.pid(),
        process_tgid: task.tgid(),
        comm: task_comm(name),
    };
    shared.send(&Event::Comm(event), 0);
}

/// `coredump`: the current task starts dumping core.
fn on_coredump(shared: &Shared) {
    if !listening() {
        return;
    }
    let task: &Task = kernel::current!();
    let (parent_pid, parent_tgid) = raw::real_parent(task);
    let event = CoredumpEvent {
        process_pid: task.pid(),
        process_tgid: task.tgid(),
        parent_pid,
        parent_tgid,
    };
    shared.send(&Event::Coredump(event), 0);
}

/// The raw edge: tracepoints, `task_struct` fields, namespaces. Everything `unsafe` of the module
/// is here.
mod raw {
    use super::{on_coredump, on_exec, on_exit, on_fork, on_rename, Shared, PUBLISHED};
    use core::ptr::NonNull;
    use kernel::{
        bindings,
        prelude::*,
        sync::{rcu, Arc},
        task::{Pid, Task},
    };

    /// Makes the shared state's global lock usable. Called once, first thing of the module's
    /// initialisation.
    pub(super) fn init_published() {
        // SAFETY: Called once per load of the module, before any other use of `PUBLISHED`: the
        // module's initialiser calls it first, and nothing that could use it is registered yet.
        unsafe { PUBLISHED.init() };
    }

    /// Views a task that the kernel passes to a probe.
    ///
    /// # Safety
    ///
    /// `task` is a valid task for `'a`.
    unsafe fn task<'a>(task: *mut bindings::task_struct) -> &'a Task {
        // SAFETY: `Task` is a transparent wrapper of `task_struct`; valid by the safety
        // requirements.
        unsafe { &*task.cast::<Task>() }
    }

    /// The pid and tgid of `task`'s real parent.
    pub(super) fn real_parent(task: &Task) -> (Pid, Pid) {
        let _rcu = rcu::read_lock();
        // SAFETY: `task` is valid; `real_parent` always points to a task (init's is the idle
        // task), which is freed only after an RCU grace period, so not before `_rcu` is dropped.
        // The parent may change under us (reparenting): read it once, as `rcu_dereference()`.
        let parent = unsafe {
            let parent = core::ptr::read_volatile(&raw const (*task.as_ptr()).real_parent);
            self::task(parent)
        };
        (parent.pid(), parent.tgid())
    }

    /// What an exiting task's exit event reports of it.
    pub(super) struct ExitStatus {
        pub(super) exit_code: i32,
        pub(super) exit_signal: i32,
        pub(super) ptraced: bool,
    }

    /// The exit status of `task`, the current task in `do_exit()`.
    pub(super) fn exit_status(task: &Task) -> ExitStatus {
        let task = task.as_ptr();
        // SAFETY: `task` is valid. Its exit code and exit signal were set by itself before the
        // tracepoint; `ptrace` may change under a detaching tracer, so it is read once, a
        // snapshot as in the C code.
        unsafe {
            ExitStatus {
                exit_code: (*task).exit_code,
                exit_signal: (*task).exit_signal,
                ptraced: core::ptr::read_volatile(&raw const (*task).ptrace) != 0,
            }
        }
    }

    /// Whether `task` is a kernel thread or an io_uring worker.
    pub(super) fn is_kernel_worker(task: &Task) -> bool {
        // SAFETY: `task` is valid; its flags are a word that its own task changes: read it once.
        let flags = unsafe { core::ptr::read_volatile(&raw const (*task.as_ptr()).flags) };
        flags & (bindings::PF_KTHREAD | bindings::PF_IO_WORKER) != 0
    }

    /// Whether the current task is in the middle of an `execve()`.
    pub(super) fn current_in_execve() -> bool {
        // SAFETY: The current task is valid. While it runs, only it writes the word that holds
        // its `in_execve` bit (the scheduler's remote-wakeup bit there only while it is switched
        // out), so reading it races with nothing.
        unsafe { (*Task::current_raw()).in_execve() != 0 }
    }

    /// Whether the current task is in the initial user and pid namespaces.
    pub(super) fn current_in_init_namespaces() -> bool {
        // SAFETY: Reads the current task's credentials and pid namespace, valid in task context;
        // `init_user_ns` and `init_pid_ns` are static objects, only their addresses are taken.
        unsafe {
            core::ptr::eq(bindings::current_user_ns(), &raw mut bindings::init_user_ns)
                && core::ptr::eq(
                    bindings::task_active_pid_ns(Task::current_raw()),
                    &raw mut bindings::init_pid_ns,
                )
        }
    }

    /// The shared state a probe was registered with.
    ///
    /// # Safety
    ///
    /// `data` is the data pointer of a probe registered by [`Probes::register`], called from its
    /// tracepoint.
    unsafe fn shared<'a>(data: *mut c_void) -> &'a Shared {
        // SAFETY: `Probes` registered its probes with a pointer to the `Shared` of an `Arc` that
        // it keeps until they are unregistered and no probe runs any more.
        unsafe { &*data.cast::<Shared>() }
    }

    /// Probe of `sched_process_fork(struct task_struct *parent, struct task_struct *child)`.
    ///
    /// # Safety
    ///
    /// Called by the tracepoint only, with the data it was registered with.
    unsafe extern "C" fn fork_probe(
        data: *mut c_void,
        _parent: *mut bindings::task_struct,
        child: *mut bindings::task_struct,
    ) {
        // SAFETY: The child is valid during the call: not yet woken up, it cannot exit.
        let child = unsafe { task(child) };
        // SAFETY: Called from the tracepoint with our data.
        on_fork(unsafe { shared(data) }, child);
    }

    /// Probe of `sched_process_exec(struct task_struct *p, pid_t old_pid,
    /// struct linux_binprm *bprm)`.
    ///
    /// # Safety
    ///
    /// Called by the tracepoint only, with the data it was registered with.
    unsafe extern "C" fn exec_probe(
        data: *mut c_void,
        p: *mut bindings::task_struct,
        _old_pid: bindings::pid_t,
        _bprm: *mut bindings::linux_binprm,
    ) {
        // SAFETY: `p` is the current task.
        let p = unsafe { task(p) };
        // SAFETY: Called from the tracepoint with our data.
        on_exec(unsafe { shared(data) }, p);
    }

    /// Probe of `sched_process_exit(struct task_struct *p, bool group_dead)`.
    ///
    /// # Safety
    ///
    /// Called by the tracepoint only, with the data it was registered with.
    unsafe extern "C" fn exit_probe(
        data: *mut c_void,
        p: *mut bindings::task_struct,
        _group_dead: bool,
    ) {
        // SAFETY: `p` is the current task.
        let p = unsafe { task(p) };
        // SAFETY: Called from the tracepoint with our data.
        on_exit(unsafe { shared(data) }, p);
    }

    /// Probe of `task_rename(struct task_struct *task, const char *comm)`.
    ///
    /// # Safety
    ///
    /// Called by the tracepoint only, with the data it was registered with.
    unsafe extern "C" fn rename_probe(
        data: *mut c_void,
        task: *mut bindings::task_struct,
        comm: *const c_char,
    ) {
        if comm.is_null() {
            return;
        }
        // SAFETY: The task being renamed is the current task or one of its threads, valid during
        // the call; `comm` is its new name, a NUL-terminated string valid during the call.
        let (task, name) = unsafe { (self::task(task), CStr::from_char_ptr(comm)) };
        // SAFETY: Called from the tracepoint with our data.
        on_rename(unsafe { shared(data) }, task, name.to_bytes());
    }

    /// Probe of `coredump(int sig)`.
    ///
    /// # Safety
    ///
    /// Called by the tracepoint only, with the data it was registered with.
    unsafe extern "C" fn coredump_probe(data: *mut c_void, _sig: c_int) {
        // SAFETY: Called from the tracepoint with our data.
        on_coredump(unsafe { shared(data) });
    }

    /// A tracepoint of the kernel and our probe for it.
    struct Hook {
        name: &'static CStr,
        probe: *mut c_void,
        /// Whether loading fails without it (else its events are just not sent).
        required: bool,
    }

    /// The tracepoints, with probes whose prototypes are those of the tracepoints (`TP_PROTO`, led
    /// by the data pointer).
    fn hooks() -> [Hook; 5] {
        [
            Hook {
                name: c"sched_process_fork",
                probe: fork_probe as *mut c_void,
                required: true,
            },
            Hook {
                name: c"sched_process_exec",
                probe: exec_probe as *mut c_void,
                required: true,
            },
            Hook {
                name: c"sched_process_exit",
                probe: exit_probe as *mut c_void,
                required: true,
            },
            Hook {
                name: c"task_rename",
                probe: rename_probe as *mut c_void,
                required: true,
            },
            // Only with CONFIG_COREDUMP.
            Hook {
                name: c"coredump",
                probe: coredump_probe as *mut c_void,
                required: super::module_parameters::require_coredump.value(),
            },
        ]
    }

    /// The search of `for_each_kernel_tracepoint()`: the tracepoint of each hook, once found.
    struct Search<'a> {
        hooks: &'a [Hook],
        found: [Option<NonNull<bindings::tracepoint>>; 5],
    }

    /// Called for every tracepoint of the kernel image.
    ///
    /// # Safety
    ///
    /// Called by `for_each_kernel_tracepoint()` only, with a `Search` as private data.
    unsafe extern "C" fn match_tracepoint(tp: *mut bindings::tracepoint, search: *mut c_void) {
        // SAFETY: `Probes::register` passes its `Search`, which outlives the iteration and which
        // nothing else uses meanwhile; `tp` is a tracepoint of the kernel image, whose name is a
        // static NUL-terminated string.
        let (search, name) = unsafe {
            (
                &mut *search.cast::<Search<'_>>(),
                CStr::from_char_ptr((*tp).name),
            )
        };
        for (hook, found) in search.hooks.iter().zip(search.found.iter_mut()) {
            if hook.name == name {
                *found = NonNull::new(tp);
            }
        }
    }

    /// One registered probe.
    struct Registered {
        tp: NonNull<bindings::tracepoint>,
        probe: *mut c_void,
    }

    /// The probes of this module, attached to their tracepoints; detached, and waited for, on
    /// drop.
    ///
    /// # Invariants
    ///
    /// Each of `registered` is registered with its tracepoint with the data pointer of `shared`,
    /// which lives at least until the drop has unregistered them and waited for running probes.
    pub(super) struct Probes {
        registered: KVec<Registered>,
        shared: Arc<Shared>,
    }

    // SAFETY: The tracepoints are static objects of the kernel image and the probes are functions;
    // `Probes` only registers and unregisters them, which may happen from any thread.
    unsafe impl Send for Probes {}
    // SAFETY: `&Probes` gives access to nothing.
    unsafe impl Sync for Probes {}

    impl Probes {
        /// Finds the tracepoints and attaches the probes, with `shared` as their data.
        ///
        /// Fails with `ENOENT` if a required tracepoint does not exist, or with the error of the
        /// registration; nothing stays registered then.
        pub(super) fn register(shared: Arc<Shared>) -> Result<Self> {
            let hooks = hooks();
            let mut search = Search {
                hooks: &hooks,
                found: [None; 5],
            };
            // SAFETY: `match_tracepoint` matches the callback type and takes a `Search`, which
            // `search` is, valid and otherwise unused during the call.
            unsafe {
                bindings::for_each_kernel_tracepoint(
                    Some(match_tracepoint),
                    (&raw mut search).cast(),
                )
            };
            let mut probes = Self {
                registered: KVec::with_capacity(hooks.len(), GFP_KERNEL)?,
                shared,
            };
            let data = Arc::as_ptr(&probes.shared).cast_mut().cast::<c_void>();
            for (hook, found) in hooks.iter().zip(search.found) {
                let Some(tp) = found else {
                    if hook.required {
                        pr_err!("tracepoint {} not found\n", hook.name);
                        return Err(ENOENT);
                    }
                    pr_info!("no tracepoint {}: its events are not sent\n", hook.name);
                    continue;
                };
                // Listed first, so that a registered probe is always unregistered by `drop`.
                probes.registered.push(
                    Registered {
                        tp,
                        probe: hook.probe,
                    },
                    GFP_KERNEL,
                )?;
                // SAFETY: `tp` is a tracepoint of the kernel image and `hook.probe` a function
                // with its prototype; `data` stays valid until the probe is unregistered and
                // waited for (type invariant, upheld by `drop` also on the error paths).
                let ret =
                    unsafe { bindings::tracepoint_probe_register(tp.as_ptr(), hook.probe, data) };
                if ret != 0 {
                    // INVARIANT: Not registered: off the list again.
                    probes.registered.pop();
                    pr_err!("cannot attach to tracepoint {}: {}\n", hook.name, ret);
                    return Err(Error::from_errno(ret));
                }
                // INVARIANT: Registered with `data`, as listed.
            }
            Ok(probes)
        }
    }

    impl Drop for Probes {
        fn drop(&mut self) {
            let data = Arc::as_ptr(&self.shared).cast_mut().cast::<c_void>();
            for probe in self.registered.iter() {
                // SAFETY: Registered with this data (type invariant).
                let ret = unsafe {
                    bindings::tracepoint_probe_unregister(probe.tp.as_ptr(), probe.probe, data)
                };
                if ret != 0 {
                    pr_err!("cannot detach a probe: {}\n", ret);
                }
            }
            // `tracepoint_synchronize_unregister()`: wait for the probes that still run, so that
            // neither `shared` nor the module's code go away under them.
            // SAFETY: Plain calls on static SRCU structures; we may sleep here.
            unsafe {
                bindings::synchronize_srcu(&raw mut bindings::rcu_tasks_trace_srcu_struct);
                bindings::synchronize_srcu(&raw mut bindings::tracepoint_srcu);
            }
        }
    }
}

/// The module: the callback and the probes.
struct CnProcExample {
    // Dropped in this order: the probes are detached and waited for, then the callback.
    _probes: raw::Probes,
    _registration: Registration<McastCtl>,
}

impl kernel::Module for CnProcExample {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        raw::init_published();
        let shared = Shared::new()?;
        let registration =
            Registration::new(CN_PROC_ID, c"cn_proc", Arc::new(McastCtl, GFP_KERNEL)?)
                .inspect_err(|e| {
                    pr_err!(
                        "cannot register {}:{} with the connector: {:?}\n",
                        CN_PROC_ID.idx,
                        CN_PROC_ID.val,
                        e
                    )
                })?;
        let probes = raw::Probes::register(shared.clone())?;
        *PUBLISHED.lock() = Some(shared);
        pr_info!("process events connector ready\n");
        Ok(Self {
            _probes: probes,
            _registration: registration,
        })
    }
}

impl Drop for CnProcExample {
    fn drop(&mut self) {
        // Before the fields go: a callback still running keeps its own reference.
        *PUBLISHED.lock() = None;
    }
}

#[kunit_tests(cn_proc)]
mod tests {
    use super::*;

    #[test]
    fn proc_event_layout_is_the_uapi_one() {
        // sizeof(struct proc_event), its alignment and the offsets of its fields.
        assert_eq!(size_of::<ProcEvent>(), 40);
        assert_eq!(core::mem::align_of::<ProcEvent>(), 8);
        assert_eq!(offset_of!(ProcEvent, what), 0);
        assert_eq!(offset_of!(ProcEvent, cpu), 4);
        assert_eq!(offset_of!(ProcEvent, timestamp_ns), 8);
        assert_eq!(offset_of!(ProcEvent, event_data), 16);
        assert_eq!(EVENT_DATA_LEN, 24);
        // The members of the union.
        assert_eq!(offset_of!(AckEvent, err), 0);
        assert_eq!(
            [
                offset_of!(ForkEvent, parent_pid),
                offset_of!(ForkEvent, parent_tgid),
                offset_of!(ForkEvent, child_pid),
                offset_of!(ForkEvent, child_tgid),
            ],
            [0, 4, 8, 12]
        );
        assert_eq!(
            [
                offset_of!(ExecEvent, process_pid),
                offset_of!(ExecEvent, process_tgid)
            ],
            [0, 4]
        );
        assert_eq!(offset_of!(CommEvent, comm), 8);
        assert_eq!(size_of::<CommEvent>(), 24);
        assert_eq!(
            [
                offset_of!(CoredumpEvent, parent_pid),
                offset_of!(CoredumpEvent, parent_tgid)
            ],
            [8, 12]
        );
        assert_eq!(
            [
                offset_of!(ExitEvent, process_pid),
                offset_of!(ExitEvent, process_tgid),
                offset_of!(ExitEvent, exit_code),
                offset_of!(ExitEvent, exit_signal),
                offset_of!(ExitEvent, parent_pid),
                offset_of!(ExitEvent, parent_tgid),
            ],
            [0, 4, 8, 12, 16, 20]
        );
        assert_eq!(size_of::<ExitEvent>(), 24);
        assert_eq!(PROC_EVENT_LEN, 40);
    }

    fn word(bytes: &[u8], offset: usize) -> u32 {
        u32::from_ne_bytes([
            bytes[offset],
            bytes[offset + 1],
            bytes[offset + 2],
            bytes[offset + 3],
        ])
    }

    #[test]
    fn events_encode_every_field_in_place() {
        let exit = Event::Exit(ExitEvent {
            process_pid: 101,
            process_tgid: 100,
            exit_code: 3 << 8,
            exit_signal: u32::MAX,
            parent_pid: 7,
            parent_tgid: 6,
        });
        let bytes = exit.encode(1, 0x1122_3344_5566_7788);
        assert_eq!(word(&bytes, 0), PROC_EVENT_EXIT);
        assert_eq!(word(&bytes, 4), 1);
        assert_eq!(
            u64::from_ne_bytes(bytes[8..16].try_into().unwrap()),
            0x1122_3344_5566_7788
        );
        let data: [u32; 6] = core::array::from_fn(|i| word(&bytes, 16 + 4 * i));
        assert_eq!(data, [101, 100, 768, u32::MAX, 7, 6]);

        let comm = Event::Comm(CommEvent {
            process_pid: 5,
            process_tgid: 5,
            comm: task_comm(b"renamed"),
        });
        let bytes = comm.encode(0, 0);
        assert_eq!(word(&bytes, 0), PROC_EVENT_COMM);
        assert_eq!(&bytes[24..40], b"renamed\0\0\0\0\0\0\0\0\0");

        // Unused bytes of the union are zero.
        let bytes = Event::Ack(AckEvent { err: 22 }).encode(0, 0);
        assert_eq!(word(&bytes, 0), PROC_EVENT_NONE);
        assert_eq!(word(&bytes, 16), 22);
        assert!(bytes[20..].iter().all(|&b| b == 0));
        let bytes = Event::Fork(ForkEvent {
            parent_pid: 1,
            parent_tgid: 2,
            child_pid: 3,
            child_tgid: 4,
        })
        .encode(0, 0);
        assert_eq!(
            [
                word(&bytes, 16),
                word(&bytes, 20),
                word(&bytes, 24),
                word(&bytes, 28)
            ],
            [1, 2, 3, 4]
        );
        assert!(bytes[32..].iter().all(|&b| b == 0));
    }

    #[test]
    fn filter_decisions() {
        const L: u32 = PROC_CN_MCAST_LISTEN;
        const I: u32 = PROC_CN_MCAST_IGNORE;
        const ALL: u32 = PROC_EVENT_ALL;
        const NZ: u32 = PROC_EVENT_NONZERO_EXIT;
        const FORK: u32 = PROC_EVENT_FORK;
        const EXEC: u32 = PROC_EVENT_EXEC;
        const EXIT: u32 = PROC_EVENT_EXIT;
        const COMM: u32 = PROC_EVENT_COMM;
        const NONE: u32 = PROC_EVENT_NONE;
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
            assert_eq!(
                delivers(op, mask, &FilterData { what, exit_code }),
                delivered
            );
        }
    }

    #[test]
    fn requests_and_listener_counting() {
        let input = |op: u32, events: u32| {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&op.to_ne_bytes());
            b[4..].copy_from_slice(&events.to_ne_bytes());
            b
        };
        let listen = |events| Request {
            op: PROC_CN_MCAST_LISTEN,
            events,
        };
        assert_eq!(Request::parse(&input(1, 0x3)), Some(listen(0x3)));
        // Unknown bits are dropped; nothing left means everything.
        assert_eq!(
            Request::parse(&input(1, 0x400)),
            Some(listen(PROC_EVENT_ALL))
        );
        assert_eq!(Request::parse(&input(1, 0x401)), Some(listen(1)));
        assert_eq!(Request::parse(&input(1, 0)), Some(listen(PROC_EVENT_ALL)));
        // Legacy: the bare operation.
        assert_eq!(
            Request::parse(&2u32.to_ne_bytes()),
            Some(Request {
                op: PROC_CN_MCAST_IGNORE,
                events: PROC_EVENT_ALL
            })
        );
        for len in [0, 3, 5, 7, 9, 12] {
            assert_eq!(Request::parse(&[1u8; 12][..len]), None);
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
        let a = ProcInput::default();
        let b = ProcInput::default();
        a.set_counted(true);
        a.set_counted(true);
        assert_eq!(count(), 1);
        b.set_counted(true);
        assert_eq!(count(), 2);
        // An IGNORE of one socket cannot uncount another, however often it comes.
        b.set_counted(false);
        b.set_counted(false);
        b.set_counted(false);
        assert_eq!(count(), 1);
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
        assert_eq!(exit_parent(17, false, (5, 5)), (5, 5));
        assert_eq!(exit_parent(0, false, (5, 5)), (5, 5));
        assert_eq!(exit_parent(-1, true, (5, 5)), (5, 5));
        assert_eq!(exit_parent(-1, false, (5, 5)), (0, 0));

        assert_eq!(&task_comm(b""), &[0u8; 16]);
        assert_eq!(&task_comm(b"sh"), b"sh\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(&task_comm(b"exactly15chars!"), b"exactly15chars!\0");
        assert_eq!(&task_comm(b"a name longer than 15"), b"a name longer t\0");
    }
}
