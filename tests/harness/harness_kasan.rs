// SPDX-License-Identifier: GPL-2.0

//! Harness self-test module, deliberately broken: with `trigger=1` its init reads one byte past
//! the end of a 13-byte heap allocation. That is a real out-of-bounds read, kept on purpose so
//! that KASAN reports `slab-out-of-bounds` and `scripts/run-qemu` must report `KASAN`.

use kernel::prelude::*;

module! {
    type: HarnessKasan,
    name: "harness_kasan",
    authors: ["rust-connector test harness"],
    description: "Harness self-test: out-of-bounds heap read on request (trigger=1)",
    license: "GPL",
    params: {
        trigger: bool {
            default: false,
            description: "Read past the end of a heap allocation in module init",
        },
    },
}

struct HarnessKasan;

impl kernel::Module for HarnessKasan {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if module_parameters::trigger.value() {
            const SIZE: usize = 13;
            let buf = KVec::<u8>::with_capacity(SIZE, GFP_KERNEL)?;
            pr_info!("reading past a {SIZE}-byte allocation on purpose (harness self-test)\n");
            // SAFETY: none: this is the deliberate bug. `SIZE` is one past the end of the
            // allocation; the read is volatile so that the compiler keeps it.
            let byte = unsafe { core::ptr::read_volatile(buf.as_ptr().add(SIZE)) };
            pr_info!("read {byte:#x}\n");
        }
        Ok(HarnessKasan)
    }
}
