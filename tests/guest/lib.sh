# Helpers for the guest test cases (busybox sh). Sourced by each case and by the runner.
#
# The runner exports, per configuration (see the `# configs:` line of a case):
#   CONFIG      rust | c | cpeer
#   CORE        path of the connector core module (.ko)   CORE_NAME  its module name
#   PEER        path of the peer (cn_test) module (.ko)    PEER_NAME  its module name
#   CASE        the case name; CASE_MARK the dmesg marker written when the case started
#
# A case exits 0 on success, 77 to be skipped, anything else on failure.
#
#   load_core [PARAMS...]      insmod $CORE (fails the case if that fails)
#   load_peer [PARAMS...]      insmod $PEER
#   is_loaded NAME             true if module NAME is loaded
#   unload_all                 rmmod every loaded module: peers first, then cores
#   fail MSG / skip MSG        print MSG and end the case (failed / skipped)
#   mark_dmesg                 new dmesg marker: dmesg_since_mark / expect_dmesg look after it
#   dmesg_since_mark           the kernel log lines since the last marker (all of them if the
#                              marker has already left the ring buffer)
#   expect_dmesg RE [SECS]     wait up to SECS (default 5) for a line matching the extended
#                              regex RE since the marker; fails the case if none comes
#   expect_no_dmesg RE         fail the case if a line since the marker matches RE
#   cn_users                   the connector's users (the lines of /proc/net/connector)
#   as_user CMD [ARGS...]      run CMD as the unprivileged `user` (uid/gid 1000), same env
#   on_one_cpu                 pin the case (this shell and all it starts) to CPU 0
#   wait_until SECS MSG CMD... run CMD every 0.1 s until it succeeds; fail with MSG after SECS

fail() {
	echo "FAIL: $*"
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

load_core() {
	insmod "$CORE" "$@" || fail "insmod $CORE $* failed"
}

load_peer() {
	insmod "$PEER" "$@" || fail "insmod $PEER $* failed"
}

is_loaded() {
	grep -q "^$1 " /proc/modules
}

# unload_all: unloads every loaded module (the test kernel has no other loadable modules),
# unused ones first, so peers go before the cores they use. Returns non-zero if one stays.
unload_all() {
	while grep -q . /proc/modules; do
		_progress=
		while read -r _m _size _refs _rest; do
			[ "$_refs" = 0 ] && rmmod "$_m" && _progress=1
		done </proc/modules
		if [ -z "$_progress" ]; then
			echo "cannot unload: $(cut -d' ' -f1,3 /proc/modules | tr '\n' ' ')"
			return 1
		fi
	done
	return 0
}

mark_dmesg() {
	CASE_MARK="test-mark-$$-$(date +%s)-${CASE:-case}"
	echo "$CASE_MARK" >/dev/kmsg
}

# (If the marker has already left the kernel's ring buffer, every line still there is newer.)
dmesg_since_mark() {
	dmesg | awk -v m="$CASE_MARK" '{ l[NR] = $0 } index($0, m) { s = NR } END { for (i = s + 1; i <= NR; i++) print l[i] }'
}

expect_dmesg() {
	_re=$1
	_secs=${2:-5}
	_i=0
	while [ $_i -le $((_secs * 5)) ]; do
		dmesg_since_mark | grep -E -q -- "$_re" && return 0
		sleep 0.2
		_i=$((_i + 1))
	done
	echo "---- dmesg since the case started ----"
	dmesg_since_mark | tail -n 30
	fail "no kernel log line matching '$_re' within ${_secs}s"
}

expect_no_dmesg() {
	if dmesg_since_mark | grep -E -- "$1"; then
		fail "unexpected kernel log line matching '$1'"
	fi
}

cn_users() {
	cat /proc/net/connector
}

# Under QEMU TCG, a second vCPU was seen executing the int3 that ftrace's live patching puts on a
# probed function's entry after the patching had removed it ("Oops: int3" at commit_creds+1 while
# cn_proc_example's fprobes were registered or removed and both CPUs changed credentials). The
# kernel's protocol (int3, then a synchronizing IPI to every CPU before the int3 goes) rules that
# out on real CPUs, so we take it for an emulation artifact; on one vCPU the emulated patching is
# exact. Cases that load or unload cn_proc_example while processes exec or change credentials run
# on one CPU.
on_one_cpu() {
	taskset -p 1 $$ >/dev/null || fail "cannot pin the case to CPU 0"
}

wait_until() {
	_wu_end=$(($1 * 10))
	_wu_msg=$2
	shift 2
	_wu_i=0
	until "$@"; do
		_wu_i=$((_wu_i + 1))
		[ $_wu_i -le $_wu_end ] || fail "$_wu_msg"
		sleep 0.1
	done
}

as_user() {
	su -p -s /bin/sh -c 'exec "$@"' user -- as_user "$@"
}

[ -n "${CASE_MARK:-}" ] || mark_dmesg
