# Callbacks do not cross network namespaces. The connector has a kernel socket in every network
# namespace, but a callback registered through the C ABI (cpeer: the kernel's sample) or by a Rust
# module for the initial namespace only (cn_test's default, all_namespaces=0) takes messages from
# the initial namespace only: a message from `unshare -n` to its id is treated as one to an
# unregistered id (not delivered: no log line, no reply; NLM_F_ACK answered with ENODEV, -19),
# the namespace's /proc/net/connector lists nothing while the host's lists cn_test, and the control
# id (notification requests) does not exist there. The host gets what it got before.
# Then (ours) with all_namespaces=1 reply=1: the namespace's message is delivered and logged with
# `net=INODE` (the sender's namespace), acked with 0, and answered inside the namespace, to the
# sender's port there: a host socket bound to the same port number (both are pid 1 of their own pid
# namespace) gets nothing. The namespace's /proc/net/connector lists cn_test's two ids.
# Fails: without a socket per namespace (the send from the namespace is refused, ECONNREFUSED, and
# no ack comes), if a callback takes a message from a namespace it did not ask for (log line,
# reply, ack 0), if the reply goes out through the initial namespace's socket (no reply inside,
# or the host's port 1 gets it), if /proc/net/connector is not filtered by namespace.
# configs: rust cpeer
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
. /tests/netns.sh
load_core
if [ "$CONFIG" = rust ]; then load_peer reply=1 interval_ms=0; else load_peer; fi
initial=$(net_inode $$)
[ "$initial" = 4026531833 ] || fail "the case does not run in the initial network namespace: $initial"

echo "---- host /proc/net/connector"
cn_users
cn_users | grep -Eq '^cn_test +14:1110$' || fail "the host's /proc/net/connector does not list cn_test"
expect_users_in "unshare -n" 0

# A plain send from another namespace: no reply (exit 1 at the reply timeout), not refused.
rc=0
out=$(unshare -n cnctl send --idx $CN_IDX --val $CN_VAL --seq 2201 --ack 5 --data outside --nul \
	--reply-timeout-ms 2000 2>&1) || rc=$?
echo "unshare -n cnctl send (exit $rc): $out"
[ $rc = 1 ] || fail "the send from another namespace: exit $rc, expected 1 (sent, no reply): $out"
echo "$out" | grep -q "^recv " && fail "a reply reached the other namespace: $out"
# Acked: ENODEV for both of cn_test's ids, as for an id nobody registered.
for val in $CN_VAL $CN_TIMER_VAL; do
	out=$(unshare -n cnctl send --idx $CN_IDX --val $val --seq 2202 --data outside --nul --nl-ack 2>&1)
	echo "unshare -n cnctl send --val $val --nl-ack: $out"
	echo "$out" | grep -q "^nlack error=-19$" || fail "expected ENODEV from another namespace, got: $out"
done
# The control id: notification requests are refused there like any unregistered id.
out=$(unshare -n cnctl notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "unshare -n cnctl notify --add: $out"
echo "$out" | grep -q "^nlack error=-19$" || fail "expected ENODEV for the control id in another namespace, got: $out"
out=$(cnctl notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=0$" || fail "the host's notification request failed: $out"
out=$(cnctl notify --remove --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=0$" || fail "the host's notification removal failed: $out"

# The host: delivered and acked as before; the namespace's messages were not delivered.
out=$(cnctl send --idx $CN_IDX --val $CN_VAL --seq 2203 --data host --nul --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=0$" || fail "the host's acked message: $out"
expect_delivered 2203
if [ "$CONFIG" = rust ]; then
	out=$(cnctl send --idx $CN_IDX --val $CN_VAL --seq 2204 --data host --nul --reply-timeout-ms 5000) ||
		fail "no reply on the host: $out"
	echo "$out" | grep -q '^recv idx=14 val=1110 seq=2204 ack=1 len=5 flags=0 data="host"$' ||
		fail "wrong reply on the host: $out"
fi
expect_not_delivered 2201
expect_not_delivered 2202
expect_no_dmesg "seq=220[12],"
expect_no_dmesg "reply to port"

[ "$CONFIG" = rust ] || {
	expect_no_splat
	exit 0
}

# ---- all_namespaces=1
rmmod cn_test || fail "rmmod cn_test failed"
load_peer reply=1 interval_ms=0 all_namespaces=1
mark_dmesg
echo "---- host /proc/net/connector (all_namespaces=1)"
cn_users
cn_users | grep -Eq '^cn_test +14:1110$' || fail "the host's /proc/net/connector does not list cn_test"
expect_users_in "unshare -n" 2
unshare -n cat /proc/net/connector | grep -Eq '^cn_test +14:1110$' ||
	fail "the namespace's /proc/net/connector does not list cn_test 14:1110"
unshare -n cat /proc/net/connector | grep -Eq '^cn_test +14:1111$' ||
	fail "the namespace's /proc/net/connector does not list cn_test 14:1111"

out=$(unshare -n sh -c 'readlink /proc/self/ns/net; exec cnctl send --idx 14 --val 0x456 --seq 2210 --ack 9 --data inside --nul --reply-timeout-ms 5000' 2>&1) ||
	fail "no reply inside the namespace: $out"
echo "$out"
inode=$(echo "$out" | sed -n 's/^net:\[\([0-9]*\)\]$/\1/p')
[ -n "$inode" ] && [ "$inode" != "$initial" ] || fail "no other namespace: $out"
echo "$out" | grep -q '^recv idx=14 val=1110 seq=2210 ack=10 len=7 flags=0 data="inside"$' ||
	fail "wrong reply inside the namespace: $out"
expect_dmesg "$(ns_delivered_re "$inode" 2210) ack=9, len=7: inside\."
expect_no_dmesg "cn_test_callback: idx=e, val=456, seq=2210,"

out=$(unshare -n cnctl send --idx $CN_IDX --val $CN_TIMER_VAL --seq 2211 --data acked --nul --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=0$" || fail "expected ack 0 from another namespace, got: $out"
expect_dmesg "cn_test_callback: net=[0-9]+: idx=e, val=457, seq=2211, ack=0, len=6: acked\."
# Still no control id there.
out=$(unshare -n cnctl notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=-19$" || fail "expected ENODEV for the control id in another namespace, got: $out"

# The host's messages are logged as before, without net=.
send_good 2212
expect_dmesg "cn_test_callback: idx=e, val=456, seq=2212, ack=0, len=5: good\."
expect_no_dmesg "net=[0-9]+: idx=e, val=456, seq=2212,"
expect_no_dmesg "net=$initial:"

# The reply goes to the sender's port in the sender's namespace: a host socket on port 1 (pid 1 of
# a new pid namespace, host network namespace) while the sender is pid 1 of its own pid and network
# namespaces (port 1 there too) must get nothing.
rm -f /tmp/port1.*
unshare -p -f cnctl listen --group $CN_IDX --timeout-ms 8000 >/tmp/port1.out 2>/tmp/port1.err &
port1=$!
wait_for /tmp/port1.err "^listening group=14" 10 "the host listener did not start"
if awk '$2 == 11 && $3 == 1 { f = 1 } END { exit !f }' /proc/net/netlink; then
	out=$(unshare -n -p -f cnctl send --idx 14 --val 0x456 --seq 2213 --data port1 --nul \
		--reply-timeout-ms 5000 2>&1) || fail "no reply to pid 1 of a new namespace: $out"
	echo "$out"
	echo "$out" | grep -q '^recv idx=14 val=1110 seq=2213 ack=1 len=6 flags=0 data="port1"$' ||
		fail "wrong reply to pid 1 of a new namespace: $out"
	expect_dmesg "cn_test_callback: net=[0-9]+: idx=e, val=456, seq=2213,"
	kill $port1
	wait $port1 2>/dev/null
	echo "---- host listener on port 1"
	cat /tmp/port1.out
	grep -q "^recv " /tmp/port1.out && fail "the host's socket on port 1 got the namespace's reply"
else
	echo "(the host listener is not on port 1: $(awk '$2 == 11' /proc/net/netlink | tr '\n' ' '); part skipped)"
	kill $port1
	wait $port1
fi
expect_no_dmesg "reply to port"
expect_no_splat
