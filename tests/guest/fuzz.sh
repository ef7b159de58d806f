#!/bin/sh
# The long fuzz run of `make fuzz` (scripts/fuzz), started by /init in mode `fuzz`: the core,
# cn_test and the process events module loaded, a process events listener running, then
# `cnctl fuzz` with the seed and count of the kernel command line (fuzz.seed=S fuzz.count=N):
# half of the datagrams from root (seed S), half from uid 1000 (seed S+1). Then the liveness
# checks: a good message arrives, the listener gets the exit of a new process, the modules
# unload. Prints `fuzz-ok` at the end if all of that held.
. /tests/lib.sh
. /tests/cn.sh
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^fuzz\.$1=\([0-9][0-9]*\)$/\1/p" | tail -n 1; }
seed=$(arg seed)
count=$(arg count)
[ -n "$seed" ] && [ -n "$count" ] || fail "no fuzz.seed=S fuzz.count=N on the kernel command line"
CORE=/modules/connector.ko PEER=/modules/cn_test.ko PEER_NAME=cn_test
load_core
load_quiet_peer
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
cnctl proc >/tmp/fuzz-proc.out 2>/tmp/fuzz-proc.err &
listener=$!
# cn_test logs every message (KERN_INFO): off the console; warnings and splats stay on it.
echo 5 >/proc/sys/kernel/printk
half=$((count / 2))
t0=$(date +%s)
cnctl fuzz --seed "$seed" --count $half || fail "cnctl fuzz (root) exited $?"
cnctl fuzz --seed $((seed + 1)) --count $((count - half)) --as-uid 1000 ||
	fail "cnctl fuzz (uid 1000) exited $?"
echo "fuzz-seconds $(($(date +%s) - t0))"
echo 7 >/proc/sys/kernel/printk

mark_dmesg
send_good 4200000001
expect_delivered 4200000001
echo "liveness: a good message was delivered"
kill -0 $listener 2>/dev/null || fail "the process events listener died: $(cat /tmp/fuzz-proc.err)"
sh -c 'exit 3' &
child=$!
wait $child
i=0
until grep -q " exit pid=$child tgid=$child exit_code=768 " /tmp/fuzz-proc.out; do
	i=$((i + 1))
	[ $i -le 50 ] || fail "the listener got no exit event for pid $child"
	sleep 0.2
done
echo "liveness: the process events listener got the exit of pid $child"
kill $listener
wait $listener 2>/dev/null || true
cat /proc/net/connector
unload_all || fail "the modules do not unload"
echo "liveness: the modules unloaded"
echo fuzz-ok
