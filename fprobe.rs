// SPDX-License-Identifier: GPL-2.0

//! Function probes (fprobes) on kernel functions, attached by a module at run time.
//!
//! A module describes a probe by implementing [`FunctionProbe`]: what to note at the entry of a
//! call, and what to do at its exit with that note. [`Fprobe::register`] attaches it to a function
//! by name; dropping the [`Fprobe`] detaches it, and the kernel's unregistration waits until no
//! handler runs any more, so that neither the probe's context nor the module's code go away under
//! one.
//!
//! Both handlers run in the task that calls the function, in its context, with preemption
//! disabled: they may not sleep. The note lives on that task's own return stack (fgraph), so that
//! no task's calls, however many and however long they block, can take the room of another's.
//!
//! This file and `fprobe_glue.c` are the only places that touch the fprobe API.

use core::{marker::PhantomData, mem::size_of, ptr::NonNull};
use kernel::{
    prelude::*,
    sync::Arc,
    transmute::{AsBytes, FromBytes},
};

/// The C side (`fprobe_glue.c`).
mod ffi {
    use super::Regs;
    use kernel::prelude::*;

    /// A probe of the glue: opaque.
    #[repr(C)]
    pub(super) struct CnFprobe {
        _opaque: [u8; 0],
    }

    /// A handler: (context, entry data, registers).
    pub(super) type Handler =
        unsafe extern "C" fn(ctx: *const c_void, data: *mut c_void, regs: *mut Regs) -> c_int;

    extern "C" {
        pub(super) fn cn_fprobe_register(
            symbol: *const c_char,
            entry: Handler,
            exit: Handler,
            ctx: *const c_void,
            data_size: usize,
            err: *mut c_int,
        ) -> *mut CnFprobe;
        pub(super) fn cn_fprobe_unregister(p: *mut CnFprobe);
        pub(super) fn cn_fprobe_nmissed(p: *const CnFprobe) -> c_ulong;
        pub(super) fn cn_fregs_arg(regs: *mut Regs, n: c_uint) -> c_ulong;
        pub(super) fn cn_fregs_return_value(regs: *mut Regs) -> c_ulong;
        pub(super) fn cn_fregs_syscall_args(regs: *mut Regs, args: *mut [c_ulong; 6]);
        pub(super) fn cn_syscall_symbols(nr: c_uint) -> *const [*const c_char; 3];
    }
}

/// A system call whose entries a probe may take (see [`syscall_symbols`]).
#[derive(Clone, Copy)]
pub(crate) enum Syscall {
    Setsid = 0,
    Ptrace = 1,
}

/// The entry symbols of `syscall` on this kernel: the native one, then those of the compat ABIs it
/// has (32-bit x86 and x32 on x86-64). A probe there reads the call's arguments with
/// [`Regs::syscall_args`].
pub(crate) fn syscall_symbols(syscall: Syscall) -> impl Iterator<Item = &'static CStr> {
    // SAFETY: The glue returns a pointer to a static array of three string pointers.
    let symbols = unsafe { &*ffi::cn_syscall_symbols(syscall as c_uint) };
    symbols
        .iter()
        .filter(|name| !name.is_null())
        // SAFETY: A non-null entry is a static NUL-terminated string constant.
        .map(|&name| unsafe { CStr::from_char_ptr(name) })
}

/// The registers of a probed function at its entry or exit (the kernel's `struct ftrace_regs`).
///
/// # Invariants
///
/// A `&Regs` is the `ftrace_regs` that the fprobe core hands a handler, valid during the handler.
#[repr(C)]
pub(crate) struct Regs {
    _opaque: [u8; 0],
}

impl Regs {
    fn as_ptr(&self) -> *mut Regs {
        core::ptr::from_ref(self).cast_mut()
    }

    /// The `n`-th argument (0-based) of the function, at its entry.
    pub(crate) fn arg(&self, n: u32) -> usize {
        // SAFETY: Reads registers of a valid `ftrace_regs` (type invariant).
        unsafe { ffi::cn_fregs_arg(self.as_ptr(), n) }
    }

    /// The value a function returning `long` returns (as system call entries do), at its exit.
    /// (A function returning `int` leaves the upper half of the register undefined.)
    pub(crate) fn return_long(&self) -> isize {
        // SAFETY: As for `arg`.
        unsafe { ffi::cn_fregs_return_value(self.as_ptr()) as isize }
    }

    /// The six arguments of the system call.
    ///
    /// # Safety
    ///
    /// Called at the entry of one of the [`syscall_symbols`], whose argument is then the user
    /// registers of the call (on architectures with syscall wrappers).
    pub(crate) unsafe fn syscall_args(&self) -> [usize; 6] {
        let mut args = [0; 6];
        // SAFETY: As for `arg`; the user registers are valid as the safety requirements say.
        unsafe { ffi::cn_fregs_syscall_args(self.as_ptr(), &mut args) };
        args
    }
}

/// A function probe: what runs at the entry and at the exit of calls of a kernel function.
pub(crate) trait FunctionProbe: 'static {
    /// What the handlers share with the module.
    type Context: Send + Sync + 'static;
    /// What the entry hands to the exit of the same call: plain bytes, kept on the calling task's
    /// return stack (behind a cookie of the registration, which the glue checks at the exit).
    type Note: AsBytes + FromBytes + Copy;

    /// At the entry of a call: the note for its exit, or `None` if the exit of this call is of no
    /// interest (it then costs nothing more). `regs` holds the arguments.
    fn entry(ctx: &Self::Context, regs: &Regs) -> Option<Self::Note>;

    /// At the exit of a call whose entry gave `note`; `regs` holds the return value.
    fn exit(ctx: &Self::Context, regs: &Regs, note: Self::Note);
}

/// The C handlers of a [`FunctionProbe`]: the trait's methods behind the glue's prototype.
struct Adapter<P>(PhantomData<P>);

impl<P: FunctionProbe> Adapter<P> {
    /// Where the note of a call is: `data`, or for an empty note any aligned pointer.
    fn note_ptr(data: *mut c_void) -> *mut P::Note {
        if size_of::<P::Note>() == 0 {
            NonNull::dangling().as_ptr()
        } else {
            data.cast()
        }
    }

    /// # Safety
    ///
    /// Called by the glue only, for a probe that [`Fprobe::<P>::register`] registered: `ctx`
    /// points to its `P::Context`, alive while the probe is registered; `data` to the call's
    /// `size_of::<P::Note>()` bytes (of any alignment) that nothing else uses during the call; and
    /// `regs` to valid registers.
    unsafe extern "C" fn entry(ctx: *const c_void, data: *mut c_void, regs: *mut Regs) -> c_int {
        // SAFETY: By the safety requirements (`Regs` is the opaque `ftrace_regs`).
        let (ctx, regs) = unsafe { (&*ctx.cast::<P::Context>(), &*regs) };
        match P::entry(ctx, regs) {
            Some(note) => {
                // SAFETY: The call's data, as the safety requirements say.
                unsafe { Self::note_ptr(data).write_unaligned(note) };
                0
            }
            // Non-zero: the fprobe core skips the exit of this call.
            None => 1,
        }
    }

    /// # Safety
    ///
    /// As for `entry`, at the exit of a call whose entry returned 0: `data` holds plain bytes
    /// (its note, see [`FunctionProbe::Note`]).
    unsafe extern "C" fn exit(ctx: *const c_void, data: *mut c_void, regs: *mut Regs) -> c_int {
        // SAFETY: By the safety requirements; any bytes are a `P::Note`.
        let (ctx, regs, note) = unsafe {
            (
                &*ctx.cast::<P::Context>(),
                &*regs,
                Self::note_ptr(data).read_unaligned(),
            )
        };
        P::exit(ctx, regs, note);
        0
    }
}

/// A [`FunctionProbe`] `P` registered on a function; unregistered on drop, after which none of its
/// handlers runs.
///
/// # Invariants
///
/// `probe` is registered by the glue on `symbol` with the handlers of `Adapter<P>`, the note size
/// of `P` and the context pointer of `_ctx`, until the drop unregisters it.
pub(crate) struct Fprobe<P: FunctionProbe> {
    probe: NonNull<ffi::CnFprobe>,
    symbol: &'static CStr,
    /// Kept alive for the handlers.
    _ctx: Arc<P::Context>,
}

// SAFETY: The glue's probe is only registered, read and unregistered, which any thread may do; the
// context is `Send + Sync`.
unsafe impl<P: FunctionProbe> Send for Fprobe<P> {}
// SAFETY: `&Fprobe` only reads the probe's miss count.
unsafe impl<P: FunctionProbe> Sync for Fprobe<P> {}

impl<P: FunctionProbe> Fprobe<P> {
    /// Attaches `P` to the function `symbol` with `ctx` as context.
    ///
    /// Fails with `ENOENT` if the kernel has no such function or it cannot be traced (a function
    /// inlined into all its callers cannot be told from one that is probed and never called), and
    /// `EOPNOTSUPP` if the kernel has no fprobes (or is `PREEMPT_RT`).
    ///
    /// # Safety
    ///
    /// `symbol` is a function whose arguments and return value are what `P`'s handlers take them
    /// for (their `regs`).
    pub(crate) unsafe fn register(ctx: Arc<P::Context>, symbol: &'static CStr) -> Result<Self> {
        let mut err = 0;
        // SAFETY: The symbol is a static string of a function that `P` may probe (safety
        // requirements); the handlers are those of `Adapter<P>`, whose requirements hold: the
        // context lives in `_ctx` until `drop` has unregistered the probe, and the data size is
        // that of `P::Note`.
        let probe = unsafe {
            ffi::cn_fprobe_register(
                symbol.as_char_ptr(),
                Adapter::<P>::entry,
                Adapter::<P>::exit,
                Arc::as_ptr(&ctx).cast(),
                size_of::<P::Note>(),
                &mut err,
            )
        };
        let probe = NonNull::new(probe).ok_or_else(|| Error::from_errno(err))?;
        // INVARIANT: Registered as the type requires.
        Ok(Self {
            probe,
            symbol,
            _ctx: ctx,
        })
    }

    /// The probed function.
    pub(crate) fn symbol(&self) -> &'static CStr {
        self.symbol
    }

    /// The calls of the function that ran without the handlers (mostly: no room left on the
    /// calling task's return stack). A racy count.
    pub(crate) fn missed(&self) -> usize {
        // SAFETY: `probe` is registered, so alive (type invariant).
        unsafe { ffi::cn_fprobe_nmissed(self.probe.as_ptr()) }
    }
}

impl<P: FunctionProbe> Drop for Fprobe<P> {
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant) and never used again; when this returns no handler
        // runs and none will, so `_ctx` may go. A drop may sleep.
        unsafe { ffi::cn_fprobe_unregister(self.probe.as_ptr()) };
    }
}
