# Network namespaces torn down under traffic, and the connector unloaded and reloaded while other
# namespaces live on.
#  1. Rounds of two short-lived namespaces (`unshare -n`), each with a sender that floods cn_test
#     (all_namespaces=1 reply=1) and never reads (its replies pile up in its receive queue), a
#     round-trip flooder and a listener on group 14, all killed with SIGKILL mid-flood (once the
#     kernel logged their namespace's messages): their sockets, the queued replies and then the
#     namespaces (with the connector's kernel socket in each) go while the others still send.
#     After the last round cn_test and the connector are unloaded at once, while the killed
#     namespaces may still be being dismantled.
#  2. A namespace with no connector socket of userspace open (`unshare -n sleep`) does not keep the
#     connector loaded: rmmod succeeds. A connector socket open in it does (the module is in use:
#     rmmod fails, as for a socket in the initial namespace) until it is closed.
#  3. After a reload, the surviving namespace, and one created while the connector was not loaded,
#     each get a working connector socket: a message sent there (nsenter) is answered there, logged
#     with its `net=INODE`, and its /proc/net/connector lists cn_test.
#  4. Clean unload; no kernel splat (WARNING, BUG, KASAN, lockdep, ...) since the case started, and
#     no leak reported by kmemleak (the harness checks the whole log too, at the end of the run).
# Fails on: a use after free or leak of a namespace's kernel socket or of a queued reply, a
# namespace left without a socket after a reload (ECONNREFUSED, no reply), a per-namespace socket
# that pins the module (rmmod fails with no socket of userspace open), a module unloadable while a
# socket of userspace is still open in another namespace, or an unload that hangs (timeout).
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
. /tests/netns.sh
initial=$(net_inode $$)
rm -f /tmp/held.*

# wait_netns PID: wait until PID is in a network namespace other than the initial one; prints it.
wait_netns() {
	_end=$(($(date +%s) + 10))
	while :; do
		_ino=$(net_inode "$1")
		[ -n "$_ino" ] && [ "$_ino" != "$initial" ] && break
		[ "$(date +%s)" -lt $_end ] || fail "process $1 did not enter a new network namespace"
		sleep 0.05
	done
	echo "$_ino"
}

# start_ns I: namespace I's senders and listener in a session of their own (killed as a group);
# sets $pg (the session's leader, whose namespace is theirs).
start_ns() {
	setsid unshare -n sh -c "
		cnctl listen --group $CN_IDX >/dev/null 2>&1 &
		cnctl flood --idx $CN_IDX --val $CN_TIMER_VAL --count 100000000 --reply >/dev/null 2>&1 &
		exec cnctl flood --idx $CN_IDX --val $CN_VAL --count 100000000 --data ns$1 >/dev/null 2>&1" &
	pg=$!
	wait_group_leader $pg
}

# ---- 1. namespaces killed under traffic
load_core
load_peer interval_ms=0 reply=1 all_namespaces=1
i=0
while [ $i -lt 4 ]; do
	# (A namespace's inode may be that of one freed before: look at this round's lines only.)
	mark_dmesg
	start_ns $((2 * i))
	a=$pg
	start_ns $((2 * i + 1))
	b=$pg
	ino_a=$(wait_netns $a) || fail "$ino_a"
	ino_b=$(wait_netns $b) || fail "$ino_b"
	expect_dmesg "cn_test_callback: net=$ino_a: idx=e, val=45[67], " 20
	expect_dmesg "cn_test_callback: net=$ino_b: idx=e, val=45[67], " 20
	expect_dmesg "cn_test_callback: net=$ino_a: idx=e, val=457, " 20
	kill -KILL -$a -$b
	wait $a $b
	echo "round $i: namespaces $ino_a and $ino_b killed mid-flood ($(elapsed) s)"
	i=$((i + 1))
done
# A namespace whose sender ends by itself, its replies unread, then the unload right after.
unshare -n cnctl flood --idx $CN_IDX --val $CN_VAL --count 50 --data last >/dev/null ||
	fail "a flood of 50 messages from a namespace failed"
mark_dmesg
start_ns 8
ino=$(wait_netns $pg) || fail "$ino"
expect_dmesg "cn_test_callback: net=$ino: idx=e, val=45[67], " 20
kill -KILL -$pg
wait $pg
rmmod_retry cn_test 10
rmmod_retry connector 10
echo "unloaded right after the last namespace was killed ($(elapsed) s)"

# ---- 2. namespaces that live on
load_core
load_peer interval_ms=0 reply=1 all_namespaces=1
unshare -n sleep 100 &
keep=$!
keep_ino=$(wait_netns $keep) || fail "$keep_ino"
out=$(nsenter -t $keep -n cnctl send --idx $CN_IDX --val $CN_VAL --seq 2250 --data before --nul \
	--reply-timeout-ms 5000 2>&1) || fail "no reply in namespace $keep_ino: $out"
rmmod cn_test || fail "rmmod cn_test failed"
rmmod_retry connector 5
echo "connector unloaded while namespace $keep_ino lives (no socket of userspace in it)"
out=$(nsenter -t $keep -n cnctl send --idx $CN_IDX --val $CN_VAL --data x 2>&1) &&
	fail "a send succeeded with the connector unloaded: $out"
# One created while the connector is not loaded.
unshare -n sleep 100 &
late=$!
late_ino=$(wait_netns $late) || fail "$late_ino"

load_core
nsenter -t $keep -n cnctl listen --group $CN_IDX --timeout-ms 60000 >/tmp/held.out 2>/tmp/held.err &
held=$!
wait_for /tmp/held.err "^listening group=14" 10 "the listener in namespace $keep_ino did not start"
rmmod connector 2>/tmp/rmmod.err && fail "connector unloaded while a socket of userspace is open in namespace $keep_ino"
echo "rmmod with a socket open in namespace $keep_ino: $(cat /tmp/rmmod.err)"
is_loaded connector || fail "connector gone after a failed rmmod"
refs=$(awk '$1 == "connector" { print $3 }' /proc/modules)
[ "$refs" -ge 1 ] || fail "connector has $refs references with a socket open"
kill $held
wait $held
rmmod_retry connector 5
echo "connector unloaded once the socket was closed"

# ---- 3. reload: both namespaces get a working socket
load_core
load_peer interval_ms=0 reply=1 all_namespaces=1
mark_dmesg
for p in $keep $late; do
	ino=$(net_inode $p)
	out=$(nsenter -t $p -n cnctl send --idx $CN_IDX --val $CN_VAL --seq 2251 --ack 1 --data "again$p" \
		--nul --reply-timeout-ms 5000 2>&1) || fail "no reply in namespace $ino after the reload: $out"
	echo "$out" | grep -q "^recv idx=14 val=1110 seq=2251 ack=2 len=[0-9]* flags=0 data=\"again$p\"$" ||
		fail "wrong reply in namespace $ino after the reload: $out"
	expect_dmesg "$(ns_delivered_re "$ino" 2251) ack=1, len=[0-9]+: again$p\."
	expect_users_in "nsenter -t $p -n" 2
done
# And the initial namespace as before.
send_good 2252
expect_dmesg "cn_test_callback: idx=e, val=456, seq=2252,"

# ---- 4. clean unload
kill $keep $late
wait $keep $late
wait_gone $keep 5 "the surviving namespace's process"
unload_all || fail "cannot unload after the namespaces ended"
CASE_MARK=$NS_START_MARK
expect_no_dmesg "reply to port"
expect_no_splat
expect_no_leak
echo "took $(elapsed) s"
