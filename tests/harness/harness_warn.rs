// SPDX-License-Identifier: GPL-2.0

//! Harness self-test module, deliberately broken: with `trigger=1` its init hits a kernel WARN
//! (`kernel::warn_on!`), which `scripts/run-qemu` must report as `WARNING`.
//!
//! It also carries the tiny KUnit suite `harness_selftest`, run by KUnit when the module is
//! loaded, to check the KTAP parsing of `scripts/parse-results` against a real kernel. With
//! `fail_test=1` its second test fails on purpose, to check that failures are counted.

use kernel::prelude::*;

module! {
    type: HarnessWarn,
    name: "harness_warn",
    authors: ["rust-connector test harness"],
    description: "Harness self-test: triggers a WARN on request (trigger=1)",
    license: "GPL",
    params: {
        trigger: bool {
            default: false,
            description: "Trigger a kernel WARN in module init",
        },
        fail_test: bool {
            default: false,
            description: "Make the KUnit test harness_selftest.fails_on_request fail",
        },
    },
}

struct HarnessWarn;

impl kernel::Module for HarnessWarn {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if module_parameters::trigger.value() {
            pr_info!("triggering a WARN on purpose (harness self-test)\n");
            kernel::warn_on!(true);
        }
        Ok(HarnessWarn)
    }
}

#[kunit_tests(harness_selftest)]
mod tests {
    #[test]
    fn passes() {
        assert_eq!(1 + 1, 2);
    }

    #[test]
    fn fails_on_request() {
        assert!(!crate::module_parameters::fail_test.value());
    }
}
