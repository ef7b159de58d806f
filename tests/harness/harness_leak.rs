// SPDX-License-Identifier: GPL-2.0

//! Harness self-test module, deliberately broken: with `trigger=1` its init allocates small heap
//! objects and forgets every pointer to them, so kmemleak reports `unreferenced object` and
//! `scripts/run-qemu` must report the leak.
//!
//! Two things can hide such leaks from kmemleak, and the harness must cope with both: the slab's
//! per-CPU object arrays ("sheaves") keep stale pointers to just-allocated objects (so
//! `scripts/run-qemu` boots with `slab_debug=F`, which turns them off), and a stale copy of the
//! last pointer may stay in a cached kernel stack (hence several objects: the loop overwrites the
//! earlier ones).

use kernel::prelude::*;

module! {
    type: HarnessLeak,
    name: "harness_leak",
    authors: ["rust-connector test harness"],
    description: "Harness self-test: leaks memory on request (trigger=1)",
    license: "GPL",
    params: {
        trigger: bool {
            default: false,
            description: "Leak some heap objects in module init",
        },
    },
}

struct HarnessLeak;

impl kernel::Module for HarnessLeak {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if module_parameters::trigger.value() {
            pr_info!("leaking 16 objects on purpose (harness self-test)\n");
            for i in 0..16u8 {
                // The deliberate bug: the only pointer to the allocation is dropped.
                let _ = KBox::into_raw(KBox::new([i; 200], GFP_KERNEL)?);
            }
        }
        Ok(HarnessLeak)
    }
}
