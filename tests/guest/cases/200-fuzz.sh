# A seeded fuzz run (cnctl fuzz: random and mutated netlink and connector headers, lying lengths,
# the cn_test, process events and control ids, multi-message, truncated and empty datagrams):
# 20,000 datagrams, half from root and half from an unprivileged user, against the core,
# cn_test and the process events module while a process events listener runs. Afterwards a
# good message still arrives, the listener still gets events, /proc/net/connector lists the same
# callbacks as before, and kmemleak finds nothing. A failing seed reproduces with
# `cnctl fuzz --seed S --count N` (same bytes for the same seed).
# timeout: 600
. /tests/lib.sh
. /tests/cn.sh
SEED=200
HALF=10000
km=/sys/kernel/debug/kmemleak
load_core
load_quiet_peer
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
before=$(cn_users)
[ -w $km ] && echo clear >$km

cnctl proc >/tmp/fuzz-proc.out 2>/tmp/fuzz-proc.err &
listener=$!
# cn_test logs every message it gets (KERN_INFO): keep those lines off the slow serial console
# but not the ones of level warning and above, where every splat is (console level 5; level 1
# would hide a splat in the middle of the run, and the ring buffer cannot keep it that long).
printk_saved=$(cut -f1 /proc/sys/kernel/printk)
echo 5 >/proc/sys/kernel/printk

# fuzz NAME ARGS...: one run; its summary lines are printed, its status kept in rc_NAME.
fuzz() {
	_name=$1
	shift
	_t0=$(date +%s)
	cnctl fuzz "$@" >/tmp/fuzz-$_name.out 2>/tmp/fuzz-$_name.err
	eval "rc_$_name=$?"
	echo "$_name: $(cat /tmp/fuzz-$_name.out) ($(($(date +%s) - _t0)) s)"
	sed "s/^/$_name: /" /tmp/fuzz-$_name.err
}
fuzz root --seed $SEED --count $HALF
fuzz user --seed $((SEED + 1)) --count $HALF --as-uid 1000
echo "$printk_saved" >/proc/sys/kernel/printk
[ "$rc_root" = 0 ] || fail "cnctl fuzz as root exited $rc_root"
[ "$rc_user" = 0 ] || fail "cnctl fuzz as uid 1000 exited $rc_user"
grep -q "^fuzz: seed=$SEED datagrams=$HALF " /tmp/fuzz-root.out || fail "no summary (root)"
grep -q "^fuzz: seed=$((SEED + 1)) datagrams=$HALF " /tmp/fuzz-user.out || fail "no summary (user)"

# Still working: a good message arrives ...
mark_dmesg
send_good 4200000001
expect_delivered 4200000001
# ... the callbacks are all still listed ...
after=$(cn_users)
[ "$before" = "$after" ] || fail "/proc/net/connector changed: before: $before; after: $after"
echo "$after" | grep -q " 14:1110$" || fail "cn_test not listed"
echo "$after" | grep -q " 1:1$" || fail "process events not listed"

# ... nothing leaked (reported are only objects older than 5 s, from the second scan that finds
# them) ...
if [ -w $km ]; then
	sleep 6
	echo scan >$km
	echo scan >$km
	report=$(cat $km)
	[ -z "$report" ] || fail "kmemleak found leaks: $(echo "$report" | head -n 30)"
fi
# ... and the listener is alive and gets the exit of a new process.
kill -0 $listener 2>/dev/null || fail "the process events listener died: $(cat /tmp/fuzz-proc.err)"
sh -c 'exit 3' &
child=$!
wait $child
i=0
while ! grep -q " exit pid=$child tgid=$child exit_code=768 " /tmp/fuzz-proc.out; do
	i=$((i + 1))
	[ $i -le 50 ] || fail "the listener got no exit event for pid $child after the fuzz run" \
		"($(grep -c '^proc ' /tmp/fuzz-proc.out) lines before; the last: $(tail -n 1 /tmp/fuzz-proc.out))"
	sleep 0.2
done
echo "listener: $(grep -c '^proc ' /tmp/fuzz-proc.out) lines, the exit of pid $child among them"
kill $listener
wait $listener 2>/dev/null || true
