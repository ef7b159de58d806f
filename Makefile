# Entry points. The real work is in scripts/ (each prints its steps and timings).
#
#   make                 build the modules (connector.ko, cn_test.ko, cn_proc_example.ko) against
#                        the test kernel
#   make KDIR=/path      ... against another configured and built kernel tree
#   make check           everything: build, boot the test kernel in QEMU, run all tests
#   make run             build, boot, and show the demo (tests/guest/demo.sh)
#   make bench           our core against the C cn.ko and bare netlink on a non-debug kernel
#                        (one boot instruction-counted, one on two CPUs; build/bench/table.md)
#   make bench-profile   instructions per message by function, floor / C / ours
#                        (QEMU's instruction log; build/bench-profile/profile.md)
#   make fuzz            1,000,000 fuzzed datagrams (cnctl fuzz) on the non-debug kernel, then a
#                        liveness check (FUZZ_SEED=S, default 1; FUZZ_COUNT=N)
#   make clippy          the module builds (top level, tests/harness, tests/lockdep) with CLIPPY=1
#                        (must be warning-free)
#   make fmt-check       rustfmt --check over the Rust sources and cnctl
#   make rust-analyzer   rust-project.json for rust-analyzer (the module crates against KDIR)
#   make examples        build examples/ (a Rust and a C consumer module) with their own Makefiles,
#                        and check the README's API blocks against them (zero warnings)
#   make install         install the modules into /lib/modules/<release>/extra and run depmod
#                        (INSTALL_MOD_PATH=DIR installs under DIR instead)
#   make clean           remove build outputs
#
# Kbuild reads ./Kbuild (not this file) when it builds the modules with M=$(CURDIR).

# Lazily expanded: only targets that use it build (or reuse) the test kernel. A KDIR given on the
# command line or in the environment is passed on to the scripts, which otherwise find it themselves.
ifeq ($(origin KDIR),undefined)
KDIR = $(shell $(CURDIR)/scripts/build-kernel | tail -1)
else
export KDIR
endif

# (The examples' crates need their copy of connector_api.rs: scripts/build-examples checks them.)
RUSTFMT_FILES = $(wildcard $(CURDIR)/*.rs $(CURDIR)/tests/harness/*.rs $(CURDIR)/tests/lockdep/*.rs)

.PHONY: all modules check run bench bench-profile fuzz clippy fmt-check rust-analyzer examples install clean

all: modules

modules:
	@KDIR="$(KDIR)" $(CURDIR)/scripts/build-modules

check:
	@$(CURDIR)/scripts/check

run:
	@$(CURDIR)/scripts/run

bench:
	@$(CURDIR)/scripts/bench

bench-profile:
	@$(CURDIR)/scripts/bench-profile

fuzz:
	@$(CURDIR)/scripts/fuzz

clippy:
	@KDIR="$(KDIR)" $(CURDIR)/scripts/build-modules --clippy
	@KDIR="$(KDIR)" $(CURDIR)/scripts/build-modules --clippy --dir $(CURDIR)/tests/harness
	@KDIR="$(KDIR)" $(CURDIR)/scripts/build-modules --clippy --dir $(CURDIR)/tests/lockdep

rust-analyzer:
	@KDIR="$(KDIR)" $(CURDIR)/scripts/rust-analyzer

examples: modules
	@KDIR="$(KDIR)" $(CURDIR)/scripts/build-examples

install: modules
	@KDIR="$(KDIR)" $(CURDIR)/scripts/install-modules

fmt-check:
	@echo "==> rustfmt --check"
	@if [ -n "$(strip $(RUSTFMT_FILES))" ]; then \
		rustfmt --check --edition 2021 $(RUSTFMT_FILES); fi
	@if [ -f tools/cnctl/Cargo.toml ]; then \
		echo "==> cargo fmt --check (tools/cnctl)"; \
		cd tools/cnctl && cargo fmt --check; fi
	@echo "    formatting ok"

clean:
	@echo "==> clean: build/, tools/cnctl/target/, rust-project.json, kbuild outputs"
	@rm -rf $(CURDIR)/build $(CURDIR)/tools/cnctl/target $(CURDIR)/rust-project.json \
		$(CURDIR)/examples/rust-echo/connector_api.rs
	@find $(CURDIR) -path $(CURDIR)/.git -prune -o \
		\( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '*.mod.o' -o -name '.*.cmd' -o -name '*.rmeta' -o -name '*.rlib' \
		-o -name Module.symvers -o -name modules.order -o -name '*.d' \
		-o -name '.*.d' -o -name '.module-common.o' \) -type f -print0 | xargs -0r rm -f
