// SPDX-License-Identifier: GPL-2.0

//! Probes on kernel tracepoints, attached by a module at run time.
//!
//! A module defines a probe with [`probe!`]: a C function with the prototype of a tracepoint that
//! gets the probes' shared data as `&T`. [`Probes::attach`] finds the tracepoint of the kernel
//! image by name and registers the probe on it. Dropping the [`Probes`] unregisters every probe and
//! waits for those still running, so that neither the data nor the module's code go away under a
//! probe.
//!
//! This file is the only place that touches the tracepoint API of the kernel.

use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, prelude::*, sync::Arc};

/// The search of [`find`].
struct Search<'a> {
    name: &'a CStr,
    found: Option<NonNull<bindings::tracepoint>>,
}

/// Called by `for_each_kernel_tracepoint()` for every tracepoint of the kernel image.
///
/// # Safety
///
/// `tp` is a tracepoint of the kernel image and `search` a `Search` that nothing else uses during
/// the call.
unsafe extern "C" fn match_name(tp: *mut bindings::tracepoint, search: *mut c_void) {
    // SAFETY: `search` as the safety requirements say; `tp` is a tracepoint, whose name is a static
    // NUL-terminated string.
    let (search, name) = unsafe {
        (
            &mut *search.cast::<Search<'_>>(),
            CStr::from_char_ptr((*tp).name),
        )
    };
    if name == search.name {
        search.found = NonNull::new(tp);
    }
}

/// The tracepoint of the kernel image called `name`, if there is one: a static object.
fn find(name: &CStr) -> Option<NonNull<bindings::tracepoint>> {
    let mut search = Search { name, found: None };
    // SAFETY: `match_name` has the prototype of the callback and is given a `Search`, which lives
    // through the call and is otherwise unused meanwhile.
    unsafe { bindings::for_each_kernel_tracepoint(Some(match_name), (&raw mut search).cast()) };
    search.found
}

/// A probe for the tracepoint `name` that expects data of type `T`; made by [`probe!`].
///
/// # Invariants
///
/// `func` is a function with the prototype of the tracepoint called `name` (its `TP_PROTO`, led by
/// the data pointer) that may run wherever the tracepoint fires, given as data a pointer to a `T`
/// that is valid during the call.
pub(crate) struct Probe<T> {
    name: &'static CStr,
    func: *mut c_void,
    _data: PhantomData<fn(&T)>,
}

impl<T> Probe<T> {
    /// A probe of `func` for the tracepoint `name`.
    ///
    /// # Safety
    ///
    /// `func` is as the type invariant says: the tracepoint's prototype, with references only for
    /// arguments that the tracepoint guarantees valid during the call, and it never sleeps if the
    /// tracepoint may fire in atomic context.
    pub(crate) const unsafe fn new(name: &'static CStr, func: *mut c_void) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            name,
            func,
            _data: PhantomData,
        }
    }

    /// The name of the tracepoint.
    pub(crate) fn name(&self) -> &'static CStr {
        self.name
    }
}

/// Defines a [`Probe`] for the tracepoint `$name`: a C function taking the data pointer and the
/// arguments given (the tracepoint's `TP_PROTO`; a task pointer may be written `&Task`), which
/// runs `$body` with the data bound to `$data: &$T`.
///
/// Expands to a call of the `unsafe` [`Probe::new`]: the caller vouches for the prototype.
macro_rules! probe {
    ($name:literal, |$data:ident: &$T:ty $(, $arg:ident: $ty:ty)* $(,)?| $body:expr) => {{
        /// The probe.
        ///
        /// # Safety
        ///
        /// Called by the tracepoint only, with the data pointer of a `Probes` of this type.
        unsafe extern "C" fn probe(data: *mut ::core::ffi::c_void $(, $arg: $ty)*) {
            // SAFETY: A `Probes<T>` registers its probes with a pointer to its `T`, which lives
            // until they are unregistered and none runs any more.
            let $data: &$T = unsafe { &*data.cast::<$T>() };
            $body
        }
        $crate::tracepoint_probe::Probe::<$T>::new($name, probe as *mut ::core::ffi::c_void)
    }};
}
pub(crate) use probe;

/// One registered probe.
struct Registered {
    tp: NonNull<bindings::tracepoint>,
    func: *mut c_void,
}

/// Probes registered with their tracepoints, sharing the data `T`; unregistered, and waited for, on
/// drop.
///
/// # Invariants
///
/// Each of `registered` is registered with its tracepoint, a static object, with the data pointer
/// of `data`, which lives at least until the drop has unregistered them and waited for running
/// probes.
pub(crate) struct Probes<T: Send + Sync> {
    registered: KVec<Registered>,
    data: Arc<T>,
}

// SAFETY: The tracepoints are static objects and the probes functions: `Probes` only registers and
// unregisters them, which any thread may do; it shares a `T`, which is `Send + Sync`.
unsafe impl<T: Send + Sync> Send for Probes<T> {}
// SAFETY: `&Probes` gives access to nothing.
unsafe impl<T: Send + Sync> Sync for Probes<T> {}

impl<T: Send + Sync> Probes<T> {
    /// No probes yet, with room for `capacity`, sharing `data`.
    pub(crate) fn new(data: Arc<T>, capacity: usize) -> Result<Self> {
        Ok(Self {
            registered: KVec::with_capacity(capacity, GFP_KERNEL)?,
            data,
        })
    }

    /// The data pointer of the probes.
    fn data_ptr(&self) -> *mut c_void {
        Arc::as_ptr(&self.data).cast_mut().cast()
    }

    /// Registers `probe` with its tracepoint: `ENOENT` if the kernel has no tracepoint of that
    /// name, else the error of the registration, if any.
    pub(crate) fn attach(&mut self, probe: Probe<T>) -> Result {
        let tp = find(probe.name).ok_or(ENOENT)?;
        // Listed first, so that a registered probe is always unregistered by `drop`.
        let func = probe.func;
        self.registered.push(Registered { tp, func }, GFP_KERNEL)?;
        // SAFETY: `tp` is the tracepoint called `probe.name`, a static object; `func` has its
        // prototype and expects a `T` as data (invariant of `Probe`), which the data pointer is,
        // valid until the probe is unregistered and waited for (type invariant, upheld by `drop`).
        let ret =
            unsafe { bindings::tracepoint_probe_register(tp.as_ptr(), func, self.data_ptr()) };
        if ret != 0 {
            // INVARIANT: Not registered: off the list again.
            self.registered.pop();
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: Registered with the data pointer of `data`, as listed.
        Ok(())
    }
}

impl<T: Send + Sync> Drop for Probes<T> {
    fn drop(&mut self) {
        let data = self.data_ptr();
        for probe in self.registered.iter() {
            // SAFETY: Registered with this tracepoint, function and data (type invariant).
            let ret = unsafe {
                bindings::tracepoint_probe_unregister(probe.tp.as_ptr(), probe.func, data)
            };
            if ret != 0 {
                pr_err!("cannot unregister a probe: {}\n", ret);
            }
        }
        // `tracepoint_synchronize_unregister()`: wait for the probes that still run, so that
        // neither `data` nor the module's code go away under them.
        // SAFETY: Plain calls on static SRCU structures, in process context (a drop may sleep).
        unsafe {
            bindings::synchronize_srcu(&raw mut bindings::rcu_tasks_trace_srcu_struct);
            bindings::synchronize_srcu(&raw mut bindings::tracepoint_srcu);
        }
    }
}
