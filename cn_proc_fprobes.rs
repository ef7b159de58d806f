// SPDX-License-Identifier: GPL-2.0

//! The process events that no tracepoint marks: UID and GID (credential changes), SID
//! (`setsid()`) and PTRACE (attach and detach), from function probes ([`fprobe`]) on the
//! function that the C code sends them from (`commit_creds()`), or on the system call around the
//! code (`setsid`, `ptrace`: `ksys_setsid()` may be inlined into its syscall, and
//! `ptrace_attach()` and `ptrace_detach()` are static).
//!
//! Each probe's entry decides whether the call may make an event: while nobody listens, or for a
//! call that changes nothing, its exit is not probed at all. The event is sent at the exit, once
//! the call has succeeded.

use crate::fprobe::{syscall_symbols, Fprobe, FunctionProbe, Regs, Syscall};
use crate::{
    raw, EventData, Ids, Shared, LISTENERS, PROC_EVENT_GID, PROC_EVENT_PTRACE, PROC_EVENT_SID,
    PROC_EVENT_UID,
};
use core::mem::size_of;
use kernel::{
    bindings,
    prelude::*,
    sync::{atomic::ordering, Arc},
    task::Pid,
    transmute::{AsBytes, FromBytes},
};

wire_structs! {
    /// `struct id_proc_event` for a uid change: the new real and effective uid.
    struct UidEvent = PROC_EVENT_UID { process: Ids, ruid: u32, euid: u32 }
    /// `struct id_proc_event` for a gid change: the new real and effective gid.
    struct GidEvent = PROC_EVENT_GID { process: Ids, rgid: u32, egid: u32 }
    /// `struct sid_proc_event`: the thread group leader of a new session.
    struct SidEvent = PROC_EVENT_SID { process: Ids }
    /// `struct ptrace_proc_event`: the tracee and its new tracer (0 on detach).
    struct PtraceEvent = PROC_EVENT_PTRACE { process: Ids, tracer: Ids }
}

const _: () = {
    assert!(size_of::<UidEvent>() == 16 && size_of::<GidEvent>() == 16);
    assert!(size_of::<SidEvent>() == 8 && size_of::<PtraceEvent>() == 16);
};

/// Whether any socket listens: read at every probed entry, so it is a single atomic load.
fn listening() -> bool {
    LISTENERS.load(ordering::Relaxed) >= 1
}

/// `commit_creds(new)`: a UID event if any uid of the task changes (real, effective, saved or
/// filesystem), and a GID event for the gids, with the new real and effective ids.
struct CommitCreds;

impl FunctionProbe for CommitCreds {
    type Context = Shared;
    /// The events to send: `PROC_EVENT_UID`, `PROC_EVENT_GID` or both.
    type Note = u32;

    fn entry(_shared: &Shared, regs: &Regs) -> Option<u32> {
        if !listening() {
            return None;
        }
        // SAFETY: `CommitCreds` is registered on `commit_creds(struct cred *new)` only (see
        // `ProbedEvents::attach`): at its entry, the argument is the caller's new credentials,
        // which it holds through the call.
        let (uid, gid) = unsafe { raw::ids_changed_by(regs.arg(0) as *const bindings::cred) };
        let events = (u32::from(uid) * PROC_EVENT_UID) | (u32::from(gid) * PROC_EVENT_GID);
        (events != 0).then_some(events)
    }

    fn exit(shared: &Shared, _regs: &Regs, events: u32) {
        let current = kernel::current!();
        let ([ruid, euid], [rgid, egid]) = raw::current_real_effective_ids();
        if events & PROC_EVENT_UID != 0 {
            shared.send(0, |view| {
                Some(UidEvent {
                    process: view.ids(current)?,
                    ruid: view.uid(ruid),
                    euid: view.uid(euid),
                })
            });
        }
        if events & PROC_EVENT_GID != 0 {
            shared.send(0, |view| {
                Some(GidEvent {
                    process: view.ids(current)?,
                    rgid: view.gid(rgid),
                    egid: view.gid(egid),
                })
            });
        }
    }
}

/// The `setsid` system call: a SID event when it succeeds (returns the new session id).
struct SysSetsid;

impl FunctionProbe for SysSetsid {
    type Context = Shared;
    type Note = ();

    fn entry(_shared: &Shared, _regs: &Regs) -> Option<()> {
        listening().then_some(())
    }

    fn exit(shared: &Shared, regs: &Regs, (): ()) {
        if regs.return_long() > 0 {
            // The thread group leader, as in C: its pid is the group's tgid.
            let current = kernel::current!();
            shared.send(0, |view| {
                let tgid = view.ids(current)?.tgid;
                let process = Ids { pid: tgid, tgid };
                Some(SidEvent { process })
            });
        }
    }
}

// The requests of `include/uapi/linux/ptrace.h` that make events.
const PTRACE_TRACEME: u32 = 0;
const PTRACE_ATTACH: u32 = 16;
const PTRACE_DETACH: u32 = 17;
const PTRACE_SEIZE: u32 = 0x4206;

wire_structs! {
    /// A `ptrace()` call that makes an event if it succeeds: its request, the event as the entry
    /// made it (for `PTRACE_TRACEME`, the exit finds the tracer), and when the tracee started
    /// (its `start_time`, as two 32-bit halves: no padding), which tells it from a later task
    /// that has its pid by the exit.
    struct PtraceCall { request: u32, event: PtraceEvent, started: [u32; 2] }
}

/// The `ptrace` system call: a PTRACE event when `PTRACE_ATTACH`, `PTRACE_SEIZE` or
/// `PTRACE_TRACEME` attach a tracer (C reports the first two only), or `PTRACE_DETACH` detaches
/// one (tracer 0). For all but `PTRACE_TRACEME` the event is made at the entry, where the target
/// is the one the call acts on; it is sent at the exit if the call succeeded.
struct SysPtrace;

impl FunctionProbe for SysPtrace {
    type Context = Shared;
    type Note = PtraceCall;

    fn entry(_shared: &Shared, regs: &Regs) -> Option<PtraceCall> {
        if !listening() {
            return None;
        }
        // SAFETY: `SysPtrace` is registered on the entries of `syscall_symbols(Syscall::Ptrace)`
        // only (see `ProbedEvents::attach`).
        let [request, pid, ..] = unsafe { regs.syscall_args() };
        // As the kernel reads them: a compat call's request and pid are 32 bits wide (the upper
        // half of the register is ignored); a native request with upper bits set fails.
        let (request, pid) = (request as u32, pid as Pid);
        let current = kernel::current!();
        let target = || raw::ids_of_vpid(pid);
        let none = Ids { pid: 0, tgid: 0 };
        let this = (Ids::of(current), raw::start_time(current));
        let ((process, started), tracer) = match request {
            PTRACE_TRACEME => (this, none),
            PTRACE_ATTACH | PTRACE_SEIZE => (target()?, Ids::of(current)),
            PTRACE_DETACH => (target()?, none),
            _ => return None,
        };
        Some(PtraceCall {
            request,
            event: PtraceEvent { process, tracer },
            started: [started as u32, (started >> 32) as u32],
        })
    }

    fn exit(shared: &Shared, regs: &Regs, call: PtraceCall) {
        if regs.return_long() != 0 {
            return;
        }
        let mut event = call.event;
        if call.request == PTRACE_TRACEME {
            // `ptrace_traceme()` also succeeds without attaching (the parent is exiting): only a
            // tracer that is there now counts.
            let Some(tracer) = raw::current_tracer() else {
                return;
            };
            event.tracer = tracer;
        }
        // The entry found the tracee; it is the task that has its pid now only if it started
        // then: otherwise it has gone (its exit is reported) and its pid names another task,
        // which no event may name. Each view finds its pids in its own namespace.
        let started = u64::from(call.started[0]) | (u64::from(call.started[1]) << 32);
        raw::with_host_task(event.process.pid, started, |tracee| {
            shared.send(0, |view| {
                Some(PtraceEvent {
                    process: view.ids(tracee)?,
                    tracer: view.host_ids(event.tracer).unwrap_or(Ids::NONE),
                })
            })
        });
    }
}

/// The probes of these events; those the kernel does not allow are missing (reported at load).
pub(crate) struct ProbedEvents {
    commit_creds: KVec<Fprobe<CommitCreds>>,
    setsid: KVec<Fprobe<SysSetsid>>,
    ptrace: KVec<Fprobe<SysPtrace>>,
}

impl ProbedEvents {
    /// Attaches the probes that the kernel allows, reporting by name each that it does not; fails
    /// only without memory.
    pub(crate) fn attach(shared: &Arc<Shared>) -> Result<Self> {
        // SAFETY: Each probe on the functions it is written for: `commit_creds(struct cred *)`,
        // and the entries of the `setsid` and `ptrace` system calls (which return `long`).
        unsafe {
            Ok(Self {
                commit_creds: attach(shared, [c"commit_creds"].into_iter(), "UID and GID")?,
                setsid: attach(shared, syscall_symbols(Syscall::Setsid), "SID")?,
                ptrace: attach(shared, syscall_symbols(Syscall::Ptrace), "PTRACE")?,
            })
        }
    }

    /// Reports the calls of `probes`' functions that ran unprobed (their events may be lost).
    fn report_missed<P: FunctionProbe>(probes: &[Fprobe<P>]) {
        for probe in probes.iter().filter(|p| p.missed() > 0) {
            pr_warn!(
                "{} calls of {} ran unprobed: their events may be lost\n",
                probe.missed(),
                probe.symbol()
            );
        }
    }
}

/// The probes `P` of the functions `symbols` for `events`, without those the kernel does not
/// allow (no such function, or one that cannot be probed, or no fprobes), each reported.
///
/// # Safety
///
/// As [`Fprobe::register`], for each of `symbols`.
unsafe fn attach<P: FunctionProbe<Context = Shared>>(
    shared: &Arc<Shared>,
    symbols: impl Iterator<Item = &'static CStr>,
    events: &str,
) -> Result<KVec<Fprobe<P>>> {
    let mut probes = KVec::new();
    for symbol in symbols {
        // SAFETY: By the safety requirements.
        match unsafe { Fprobe::register(shared.clone(), symbol) } {
            Ok(probe) => probes.push(probe, GFP_KERNEL)?,
            Err(e) if e == ENOMEM => return Err(e),
            Err(e) => pr_warn!(
                "cannot probe {} ({:?}): its {} events are not sent\n",
                symbol,
                e,
                events
            ),
        }
    }
    Ok(probes)
}

impl Drop for ProbedEvents {
    fn drop(&mut self) {
        Self::report_missed(&self.commit_creds);
        Self::report_missed(&self.setsid);
        Self::report_missed(&self.ptrace);
    }
}

#[kunit_tests(cn_proc_fprobes)]
mod tests {
    use super::*;

    /// A probe that never asks for an exit.
    struct Idle;

    impl FunctionProbe for Idle {
        type Context = Shared;
        type Note = ();

        fn entry(_shared: &Shared, _regs: &Regs) -> Option<()> {
            None
        }

        fn exit(_shared: &Shared, _regs: &Regs, (): ()) {}
    }

    #[test]
    fn a_function_that_cannot_be_probed_is_reported_not_fatal() -> Result {
        let shared = Shared::new()?;
        let missing = c"cn_proc_no_such_function";
        // SAFETY: `Idle` reads no argument and no return value.
        let err = unsafe { Fprobe::<Idle>::register(shared.clone(), missing) }.err();
        // ENOENT, or EOPNOTSUPP on a kernel without fprobes.
        assert!(err == Some(ENOENT) || err == Some(EOPNOTSUPP));
        // The probes that can be attached are, the others are left out.
        let symbols = [missing, c"commit_creds", missing].into_iter();
        // SAFETY: As above.
        let probes = unsafe { attach::<Idle>(&shared, symbols, "test")? };
        assert!(probes.len() == usize::from(err == Some(ENOENT)));
        Ok(())
    }
}
