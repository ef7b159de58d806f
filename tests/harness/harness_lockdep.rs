// SPDX-License-Identifier: GPL-2.0

//! Harness self-test module, deliberately broken: with `trigger=1` its init takes two mutexes in
//! the order A then B, and later B then A. No deadlock happens (one thread), but lockdep reports
//! `possible circular locking dependency`, which `scripts/run-qemu` must report.

use kernel::{new_mutex, prelude::*};

module! {
    type: HarnessLockdep,
    name: "harness_lockdep",
    authors: ["rust-connector test harness"],
    description: "Harness self-test: inverted lock order on request (trigger=1)",
    license: "GPL",
    params: {
        trigger: bool {
            default: false,
            description: "Take two mutexes in both orders in module init",
        },
    },
}

struct HarnessLockdep;

impl kernel::Module for HarnessLockdep {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if module_parameters::trigger.value() {
            let a = KBox::pin_init(new_mutex!(0u32, "harness_lock_a"), GFP_KERNEL)?;
            let b = KBox::pin_init(new_mutex!(0u32, "harness_lock_b"), GFP_KERNEL)?;
            pr_info!("taking two mutexes in both orders on purpose (harness self-test)\n");
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            {
                // The deliberate bug: the inverse of the order above.
                let _b = b.lock();
                let _a = a.lock();
            }
        }
        Ok(HarnessLockdep)
    }
}
