# Groups and privilege per network namespace. Joining a group other than 1 (process events) takes
# CAP_NET_ADMIN in the user namespace that owns the socket's network namespace:
#  - root of a new user namespace in the host's network namespace (`unshare -U -r`): EPERM for 14;
#  - an unprivileged user in the host's network namespace: EPERM (as before);
#  - root of a new user namespace that owns a new network namespace (`unshare -U -r -n`, also when
#    started by uid 1000): allowed, group 1 too.
# Broadcasts of kernel users (cn_test's timer, `counter = N` to group 14, from the default send)
# go to the initial namespace only: a listener on 14 in its own namespace gets none of them while
# a host listener on 14 gets them at the same time. A message it sends to cn_test
# (all_namespaces=1 reply=1) is still answered there: its socket works, only the broadcasts
# stay on the host.
# Fails: if the capability is checked in the wrong user namespace (the caller's: `unshare -U -r`
# gets in; the initial one: `unshare -U -r -n` is refused), if broadcasts reach every namespace.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
. /tests/netns.sh
load_core
load_peer interval_ms=100 reply=1 all_namespaces=1
rm -f /tmp/nsl.* /tmp/hostl.*

# expect_eperm WHAT CMD...: CMD (a `cnctl bind`) must fail with EPERM.
expect_eperm() {
	_what=$1
	shift
	_out=$("$@" 2>&1) && fail "$_what: joined group 14: $_out"
	echo "$_what: $_out"
	echo "$_out" | grep -q "^cnctl: EPERM: joining connector group 14: " ||
		fail "$_what: expected EPERM, got: $_out"
}

expect_eperm "user namespace root, host network namespace" unshare -U -r cnctl bind --group 14
expect_eperm "uid 1000, host network namespace" cnctl --as-uid 1000 bind --group 14
out=$(unshare -U -r -n cnctl bind --group 14 2>&1) ||
	fail "root of the user namespace owning the network namespace cannot join 14: $out"
echo "user namespace root, own network namespace: $out"
out=$(unshare -U -r -n cnctl bind --group 1 2>&1) || fail "cannot join group 1 there: $out"
if as_user unshare -U -r true 2>/dev/null; then
	expect_eperm "uid 1000 as root of a new user namespace, host network namespace" \
		as_user unshare -U -r cnctl bind --group 14
	out=$(as_user unshare -U -r -n cnctl bind --group 14 2>&1) ||
		fail "uid 1000 as root of its user namespace owning its network namespace cannot join 14: $out"
	echo "uid 1000, root of its own user and network namespaces: $out"
else
	echo "(uid 1000 cannot create a user namespace here: that part skipped)"
fi

# Broadcasts: the namespace listener listens for 6 s; the host listener starts after it has
# joined and must get 10 broadcasts in that window.
unshare -U -r -n cnctl listen --group $CN_IDX --timeout-ms 6000 >/tmp/nsl.out 2>/tmp/nsl.err &
nsl=$!
wait_for /tmp/nsl.err "^listening group=14" 10 "the namespace listener did not join group 14"
t0=$(date +%s)
cnctl listen --group $CN_IDX --count 10 --timeout-ms 4000 >/tmp/hostl.out 2>/tmp/hostl.err ||
	fail "the host listener did not get 10 broadcasts in 4 s: $(cat /tmp/hostl.out /tmp/hostl.err)"
t1=$(date +%s)
# The same namespace, at the same time: a message to cn_test is answered there.
out=$(nsenter -t $nsl -n cnctl send --idx 14 --val 0x456 --seq 2221 \
	--data ns --nul --reply-timeout-ms 5000 2>&1) || fail "no reply in the listener's namespace: $out"
echo "$out" | grep -q '^recv idx=14 val=1110 seq=2221 ack=1 len=3 flags=0 data="ns"$' ||
	fail "wrong reply in the listener's namespace: $out"
wait $nsl || fail "the namespace listener failed: $(cat /tmp/nsl.err)"
kill -0 $nsl 2>/dev/null && fail "the namespace listener still runs"
echo "---- host listener (${t0}..${t1})"
cat /tmp/hostl.out
echo "---- namespace listener"
cat /tmp/nsl.out /tmp/nsl.err
[ "$(grep -c '^recv idx=14 val=1111 .*data="counter = [0-9]*"$' /tmp/hostl.out)" = 10 ] ||
	fail "the host listener did not get the timer's broadcasts"
grep -q "^recv " /tmp/nsl.out && fail "a listener in another network namespace got the host's broadcasts"
expect_dmesg "cn_test_callback: net=[0-9]+: idx=e, val=456, seq=2221,"
expect_no_splat
