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

# copy_changed DIR FILE...: copies each FILE into DIR unless DIR has the same content already, so
# that kbuild, which goes by modification times, rebuilds only what changed.
copy_changed() {
	local dir=$1 f
	shift
	mkdir -p "$dir"
	for f in "$@"; do
		cmp -s "$f" "$dir/$(basename "$f")" || cp "$f" "$dir/"
	done
}

# build_c_modules DIR NAME: builds the C modules of DIR/Kbuild against KDIR (LLVM=1) and the
# kernel tree's Module.symvers only: a connector user then links against the in-tree cn.ko's
# symbols, and as the test kernels have no symbol versions it loads with either cn.ko or our
# connector.ko. Fails on any `warning:` (zero-warnings policy). Log: $BUILD/logs/build-NAME.log
build_c_modules() {
	local dir=$1 log=$BUILD/logs/build-$2.log
	mkdir -p "$(dirname "$log")"
	# Called from make: do not inherit the parent's jobserver (its warning would fail the build).
	if ! (unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES &&
		make -C "$KDIR" M="$dir" LLVM=1 -j"$(nproc)") >"$log" 2>&1; then
		cat "$log" >&2
		die "the build of $2 failed (log: $log)"
	fi
	if grep -q 'warning:' "$log"; then
		grep -n -A6 'warning:' "$log" >&2
		die "the build of $2 printed warnings (log: $log)"
	fi
}

# build_static_helper NAME [SRC]: tests/cpeer/NAME.c (or SRC, a kernel sample, whose warnings are
# not ours to fix) -> build/peer/NAME, a static userspace program for the guest (busybox has no
# dynamic loader there).
build_static_helper() {
	local out=$BUILD/peer/$1 src=${2:-$REPO/tests/cpeer/$1.c} werror=-Werror
	[ $# -lt 2 ] || werror=
	mkdir -p "$BUILD/peer"
	step "build userspace helper $1 (static, from $src)"
	clang -static -O2 -Wall -Wextra $werror -o "$out" "$src" ||
		die "$1 build failed"
	if llvm-readelf -l "$out" | grep -q 'Requesting program interpreter'; then
		die "$out is not statically linked"
	fi
	done_step "$out"
}
