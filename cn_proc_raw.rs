// SPDX-License-Identifier: GPL-2.0

//! The raw edge of the process events connector: the fields of `task_struct` and `cred` that the
//! kernel crate does not bind, and namespaces.

use crate::Ids;
use core::ptr::NonNull;
use kernel::{
    bindings,
    cred::Credential,
    pid_namespace::PidNamespace,
    sync::{aref::ARef, rcu},
    task::{Pid, Task},
};

/// What `f` makes of `task`'s real parent.
pub(crate) fn with_real_parent<R>(task: &Task, f: impl FnOnce(&Task) -> R) -> R {
    let _rcu = rcu::read_lock();
    // SAFETY: `task` is valid; `real_parent` always points to a task (init's is the idle
    // task), which is freed only after an RCU grace period, so not before `_rcu` is dropped.
    // The parent may change under us (reparenting): read it once, as `rcu_dereference()`.
    // `Task` is a transparent wrapper of `task_struct`.
    let parent = unsafe {
        &*core::ptr::read_volatile(&raw const (*task.as_ptr()).real_parent).cast::<Task>()
    };
    f(parent)
}

/// The pid of `task` in the pid namespace `ns`, 0 if it has none there (`task_pid_nr_ns()`).
pub(crate) fn task_pid_in(task: &Task, ns: &PidNamespace) -> Pid {
    // SAFETY: `task` and `ns` are valid during the call; `__task_pid_nr_ns()` reads the task's
    // pid under the RCU read lock it takes, and takes any task (0 for one whose pid is gone).
    unsafe {
        bindings::__task_pid_nr_ns(task.as_ptr(), bindings::pid_type_PIDTYPE_PID, ns.as_ptr())
    }
}

/// The pid in the pid namespace `ns` of the task (or thread group) whose pid in the initial pid
/// namespace is `nr`; 0 if there is none, or it has no pid there.
pub(crate) fn host_pid_in(nr: Pid, ns: &PidNamespace) -> Pid {
    let _rcu = rcu::read_lock();
    // SAFETY: Under the RCU read lock, which `find_pid_ns()` requires; the `struct pid` it finds
    // (or null, which `pid_nr_ns()` takes) is freed only after a grace period, so not before
    // `_rcu` is dropped; `ns` is valid during the call.
    unsafe {
        let pid = bindings::find_pid_ns(nr, &raw mut bindings::init_pid_ns);
        bindings::pid_nr_ns(pid, ns.as_ptr())
    }
}

/// The current task's subjective credentials, held.
pub(crate) fn current_cred() -> ARef<Credential> {
    // SAFETY: The current task is valid; its `cred` is replaced only by itself (`commit_creds()`,
    // `override_creds()`), so it is valid while it runs and we take a reference.
    let cred = unsafe { Credential::from_ptr((*Task::current_raw()).cred) };
    ARef::from(cred)
}

/// The user namespace of `cred`.
pub(crate) fn user_ns(cred: &Credential) -> *mut bindings::user_namespace {
    // SAFETY: `cred` is valid; its user namespace is set before it is committed and never changes
    // afterwards.
    unsafe { (*cred.as_ptr()).user_ns }
}

/// Whom the views of a subscriber count against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Account {
    /// A user, by uid in the initial user namespace.
    Uid(u32),
    /// A container that root made: its outermost user namespace below the initial one (the
    /// address; the subscriber's credentials hold it, so no other namespace has it meanwhile).
    RootContainer(usize),
}

/// Whom the views of a subscriber with credentials `cred` count against: in the initial user
/// namespace, its effective uid; in a container, the owner of the container's outermost user
/// namespace below the initial one (whoever created it, whatever uids are mapped in it or it
/// switches to), or that namespace itself if root created it (so that containers made by a root
/// runtime do not share one account).
pub(crate) fn account(cred: &Credential) -> Account {
    let init = &raw mut bindings::init_user_ns;
    let mut ns = user_ns(cred);
    if core::ptr::eq(ns, init) {
        return Account::Uid(cred.euid().into_raw().val);
    }
    // SAFETY: `cred` holds a reference on its user namespace, and each user namespace on its
    // parent, up to the initial one; `parent` and `owner` are set at creation and never change.
    let owner = unsafe {
        while !(*ns).parent.is_null() && !core::ptr::eq((*ns).parent, init) {
            ns = (*ns).parent;
        }
        (*ns).owner.val
    };
    match owner {
        0 => Account::RootContainer(ns as usize),
        uid => Account::Uid(uid),
    }
}

/// The uid `uid` (of the initial user namespace) as the user namespace of `cred` sees it, the
/// overflow uid if it is not mapped there.
pub(crate) fn uid_in(cred: &Credential, uid: u32) -> u32 {
    // SAFETY: The user namespace of a valid `cred` is valid as long as the `cred` (it holds a
    // reference); `from_kuid_munged()` only reads its id map, and never sleeps.
    unsafe { bindings::from_kuid_munged(user_ns(cred), bindings::kuid_t { val: uid }) }
}

/// The gid `gid` as the user namespace of `cred` sees it, as [`uid_in`] for uids.
pub(crate) fn gid_in(cred: &Credential, gid: u32) -> u32 {
    // SAFETY: As in `uid_in`, with `from_kgid_munged()`.
    unsafe { bindings::from_kgid_munged(user_ns(cred), bindings::kgid_t { val: gid }) }
}

/// The exit code and exit signal of `task`, the current task in `do_exit()`, and whether it
/// is traced.
pub(crate) fn exit_status(task: &Task) -> (i32, i32, bool) {
    let task = task.as_ptr();
    // SAFETY: `task` is valid. Its exit code and exit signal were set by itself before the
    // tracepoint; `ptrace` may change under a detaching tracer, so it is read once, a
    // snapshot as in the C code.
    unsafe {
        let ptraced = core::ptr::read_volatile(&raw const (*task).ptrace) != 0;
        ((*task).exit_code, (*task).exit_signal, ptraced)
    }
}

/// Whether `task` is a kernel thread or an io_uring worker.
pub(crate) fn is_kernel_worker(task: &Task) -> bool {
    // SAFETY: `task` is valid; its flags are a word that its own task changes: read it once.
    let flags = unsafe { core::ptr::read_volatile(&raw const (*task.as_ptr()).flags) };
    flags & (bindings::PF_KTHREAD | bindings::PF_IO_WORKER) != 0
}

/// Whether the current task is in the middle of an `execve()`.
pub(crate) fn current_in_execve() -> bool {
    // SAFETY: The current task is valid. While it runs, only it writes the word that holds
    // its `in_execve` bit (the scheduler's remote-wakeup bit there only while it is switched
    // out), so reading it races with nothing.
    unsafe { (*Task::current_raw()).in_execve() != 0 }
}

/// Whether the current task is in the initial user and pid namespaces.
pub(crate) fn current_in_init_namespaces() -> bool {
    let in_init_pid_ns = kernel::current!()
        .active_pid_ns()
        .is_some_and(|ns| core::ptr::eq(ns.as_ptr(), &raw mut bindings::init_pid_ns));
    // SAFETY: Reads the current task's credentials, valid in task context.
    let user_ns = unsafe { bindings::current_user_ns() };
    in_init_pid_ns && core::ptr::eq(user_ns, &raw mut bindings::init_user_ns)
}

/// The uids (real, effective, saved, filesystem), then the gids, of `cred`, as the initial user
/// namespace sees them: it maps every id to itself.
///
/// # Safety
///
/// `cred` points to a valid `cred` during the call.
unsafe fn ids_of_cred(cred: *const bindings::cred) -> ([u32; 4], [u32; 4]) {
    // SAFETY: By the safety requirements. The ids of a `cred` in use never change (other fields,
    // its reference count, do: only the ids are read, by place, without a reference to the whole).
    unsafe {
        (
            [
                (*cred).uid.val,
                (*cred).euid.val,
                (*cred).suid.val,
                (*cred).fsuid.val,
            ],
            [
                (*cred).gid.val,
                (*cred).egid.val,
                (*cred).sgid.val,
                (*cred).fsgid.val,
            ],
        )
    }
}

/// The current task's objective credentials, which only it replaces.
fn current_real_cred() -> *const bindings::cred {
    // SAFETY: The current task is valid; its `real_cred` is replaced only by itself, so it is
    // valid while it runs and we read it.
    unsafe { (*Task::current_raw()).real_cred }
}

/// Whether committing the credentials `new` changes any of the current task's uids, and any of
/// its gids: the comparisons of `commit_creds()`.
///
/// # Safety
///
/// `new` points to a valid `cred` during the call.
pub(crate) unsafe fn ids_changed_by(new: *const bindings::cred) -> (bool, bool) {
    // SAFETY: `new` by the safety requirements, the current credentials as `current_real_cred`
    // says.
    let ((old_uids, old_gids), (uids, gids)) =
        unsafe { (ids_of_cred(current_real_cred()), ids_of_cred(new)) };
    (old_uids != uids, old_gids != gids)
}

/// The current task's real and effective uid, then its real and effective gid.
pub(crate) fn current_real_effective_ids() -> ([u32; 2], [u32; 2]) {
    // SAFETY: As `current_real_cred` says.
    let (uids, gids) = unsafe { ids_of_cred(current_real_cred()) };
    ([uids[0], uids[1]], [gids[0], gids[1]])
}

/// The ids of the current task's tracer, if it is traced.
pub(crate) fn current_tracer() -> Option<Ids> {
    let task = Task::current_raw();
    let _rcu = rcu::read_lock();
    // SAFETY: The current task is valid. Its `ptrace` flags and `parent` (the tracer while it is
    // traced, else the real parent) change under `tasklist_lock`, which we do not hold: each is
    // read once. `parent` always points to a task (init's is the idle task), freed only after an
    // RCU grace period, so not before `_rcu` is dropped; `Task` is a transparent wrapper of
    // `task_struct`.
    unsafe {
        if core::ptr::read_volatile(&raw const (*task).ptrace) == 0 {
            return None;
        }
        let parent = core::ptr::read_volatile(&raw const (*task).parent);
        Some(Ids::of(&*parent.cast::<Task>()))
    }
}

/// The ids of the task with pid `nr` in the current task's pid namespace, if it exists, and when
/// it started (its `start_time`, which tells it from a later task with the same pid).
pub(crate) fn ids_of_vpid(nr: Pid) -> Option<(Ids, u64)> {
    let _rcu = rcu::read_lock();
    // SAFETY: Under the RCU read lock, which `find_vpid()` and `pid_task()` require (the latter
    // takes a null pid too).
    let task =
        unsafe { bindings::pid_task(bindings::find_vpid(nr), bindings::pid_type_PIDTYPE_PID) };
    // SAFETY: A task found is freed only after an RCU grace period, so not before `_rcu` is
    // dropped; `Task` is a transparent wrapper of `task_struct`.
    let task = unsafe { NonNull::new(task)?.cast::<Task>().as_ref() };
    Some((Ids::of(task), start_time(task)))
}

/// When `task` started (`start_time`: set at fork, before the task can be found, never changed).
pub(crate) fn start_time(task: &Task) -> u64 {
    // SAFETY: `task` is valid; its `start_time` is not written after the fork.
    unsafe { (*task.as_ptr()).start_time }
}

/// Calls `f` with the task that has the initial-namespace pid `nr`, if there is one and it started
/// at `started` (is the task found then, not a later one with its pid): `None` otherwise. Under
/// the RCU read lock: `f` must not sleep.
pub(crate) fn with_host_task<R>(nr: Pid, started: u64, f: impl FnOnce(&Task) -> R) -> Option<R> {
    let _rcu = rcu::read_lock();
    // SAFETY: Under the RCU read lock, which `find_pid_ns()` and `pid_task()` require (the latter
    // takes a null pid too).
    let task = unsafe {
        let pid = bindings::find_pid_ns(nr, &raw mut bindings::init_pid_ns);
        bindings::pid_task(pid, bindings::pid_type_PIDTYPE_PID)
    };
    // SAFETY: A task found is freed only after an RCU grace period, so not before `_rcu` is
    // dropped, after `f` returns; `Task` is a transparent wrapper of `task_struct`.
    let task = unsafe { NonNull::new(task)?.cast::<Task>().as_ref() };
    (start_time(task) == started).then(|| f(task))
}
