# Shared settings and helpers for the project's scripts. Sourced, never run.

# Pinned inputs. Changing one of these changes the cache key of everything built from it.
KERNEL_MAJOR=7.3
KERNEL_SUITE=trixie-backports
BINDGEN_VERSION=0.73.0
LLVM_VERSION=19

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CONNECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-connector}
BUILD=${BUILD:-$REPO/build}
export PATH="/usr/lib/llvm-$LLVM_VERSION/bin:$HOME/.cargo/bin:$PATH"

# step NAME: prints a step header and remembers when it started.
step() {
	STEP_NAME=$1
	STEP_START=$(date +%s)
	echo "==> $STEP_NAME"
}

# done_step [WHAT]: prints how long the current step took.
done_step() {
	echo "    $STEP_NAME: ${1:-done} in $(($(date +%s) - STEP_START))s"
}

die() {
	echo "error: $*" >&2
	exit 1
}

# The unpacked kernel source directory (set up by scripts/setup).
kernel_src() {
	local dir
	dir=$(ls -d "$CACHE"/src/linux-source-"$KERNEL_MAJOR" 2>/dev/null || true)
	[ -n "$dir" ] || die "no kernel source under $CACHE/src: run scripts/setup first"
	echo "$dir"
}

# The config fragments of the kernel flavour KERNEL_FLAVOR, applied in order on top of tinyconfig:
# `test` (default: with KASAN, lockdep, kmemleak) or `bench` (the same without that debugging).
kernel_fragments() {
	echo "$REPO/tests/kernel.config"
	if [ "${KERNEL_FLAVOR:-test}" = bench ]; then
		echo "$REPO/tests/bench.config"
	fi
}

# The kernel's build directory: keyed by source version and config fragments.
kernel_build_dir() {
	local src ver hash
	src=$(kernel_src)
	ver=$(cat "$CACHE/src/version")
	hash=$(kernel_fragments | xargs cat | sha256sum | cut -c1-12)
	echo "$CACHE/kbuild-$ver-$hash"
}
