# Network namespace helpers for the guest cases 220..229 (busybox sh), sourced after lib.sh and
# cn.sh. The connector has a kernel socket in every network namespace; C callbacks and Rust ones
# registered for the initial namespace only take messages from there, Rust ones registered with
# Namespaces::All (cn_test all_namespaces=1) from every namespace.
#
#   NS_START_MARK             the dmesg marker of the case's start (mark_dmesg moves CASE_MARK)
#   net_inode PID             the inode of PID's network namespace (net:[INODE] -> INODE)
#   ns_delivered_re INODE SEQ the log line of cn_test (all_namespaces=1) for a message with
#                             sequence SEQ from the namespace INODE: `net=INODE: idx=e, ...`
#   expect_users_in CMD N     CMD (e.g. `unshare -n` or `nsenter -t PID -n`) cat /proc/net/connector
#                             must show N lines after the header; prints them
#   wait_gone PID SECS WHAT   wait up to SECS for process PID to be gone (fails with WHAT)
#   wait_group_leader PID     wait up to 10 s until PID (started by `setsid CMD &`) leads its
#                             process group, so that `kill -KILL -PID` reaches all it started
#   rmmod_retry NAME SECS     rmmod NAME, retried for up to SECS (a socket's last reference on the
#                             module may go a little after its process was reaped)
#   SPLAT_RE                  what the harness counts as a kernel splat (scripts/run-qemu)
#   expect_no_splat           fail if the kernel logged a splat since the case started
#   expect_no_leak            two kmemleak scans 6 s apart (younger objects are never reported):
#                             fail if kmemleak reports a leaked object (not cleared: `echo clear`
#                             would also hide an earlier case's leak from the harness's final
#                             scan; the backtraces printed tell whose it is)

NS_START_MARK=$CASE_MARK

net_inode() {
	readlink "/proc/$1/ns/net" | sed -n 's/^net:\[\([0-9]*\)\]$/\1/p'
}

ns_delivered_re() { echo "cn_test_callback: net=$1: idx=e, val=456, seq=$2,"; }

expect_users_in() {
	_cmd=$1
	_want=$2
	# shellcheck disable=SC2086 # the command is words
	_users=$($_cmd cat /proc/net/connector) || fail "$_cmd cat /proc/net/connector failed"
	echo "$_users" | sed "s|^|  ($_cmd) |"
	[ "$(echo "$_users" | head -n 1)" = "Name            ID" ] ||
		fail "$_cmd: /proc/net/connector has no header line"
	_n=$(($(echo "$_users" | wc -l) - 1))
	[ "$_n" = "$_want" ] || fail "$_cmd: /proc/net/connector lists $_n callbacks, expected $_want"
}

wait_gone() {
	_end=$(($(date +%s) + $2))
	while [ -d "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; do
		[ "$(date +%s)" -lt $_end ] || fail "$3 (pid $1 still there after $2 s)"
		sleep 0.1
	done
}

wait_group_leader() {
	# (setsid runs in the child: wait for it; a setsid that forked would never lead the group.)
	_end=$(($(date +%s) + 10))
	until [ "$(cut -d' ' -f5 /proc/$1/stat 2>/dev/null)" = "$1" ]; do
		[ "$(date +%s)" -lt $_end ] || fail "process $1 does not lead a process group: no group to kill"
		sleep 0.05
	done
}

rmmod_retry() {
	_end=$(($(date +%s) + $2))
	until rmmod "$1" 2>/tmp/rmmod.err; do
		[ "$(date +%s)" -lt $_end ] ||
			fail "rmmod $1 failed for $2 s: $(cat /tmp/rmmod.err); $(grep "^$1 " /proc/modules)"
		sleep 0.2
	done
}

SPLAT_RE='WARNING:|BUG:|kernel BUG at|Oops|KASAN|UBSAN:|Call Trace:|general protection fault|Kernel panic|panicked at|unreferenced object|possible recursive locking|possible circular locking|inconsistent lock state|DEBUG_LOCKS_WARN_ON|bad unlock balance|held lock freed|suspicious RCU usage|INFO: '

expect_no_splat() {
	_saved=$CASE_MARK
	CASE_MARK=$NS_START_MARK
	if dmesg_since_mark | grep -E -- "$SPLAT_RE"; then
		echo "---- dmesg around the first splat ----"
		dmesg_since_mark | grep -E -B 5 -A 30 -- "$SPLAT_RE" | head -n 80
		fail "kernel splat since the case started"
	fi
	CASE_MARK=$_saved
}

KMEMLEAK=/sys/kernel/debug/kmemleak

expect_no_leak() {
	[ -w $KMEMLEAK ] || skip "no $KMEMLEAK (kmemleak disabled?)"
	echo scan >$KMEMLEAK
	sleep 6
	echo scan >$KMEMLEAK
	if grep -q "^unreferenced object" $KMEMLEAK; then
		head -n 60 $KMEMLEAK
		fail "kmemleak reports $(grep -c '^unreferenced object' $KMEMLEAK) leaked object(s)"
	fi
}
