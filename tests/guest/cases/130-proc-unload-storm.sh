# Unloading cn_proc_example while processes fork, exec and exit at full speed and a listener gets
# their events is clean (the log check and kmemleak catch what goes wrong), three times over;
# loaded again afterwards, it works.
# On CPU 0 only: see on_one_cpu in lib.sh (cn_proc_example registers fprobes under load here).
. /tests/lib.sh
on_one_cpu
load_core
storm() { while :; do /bin/true; sh -c 'exit 1'; done; }
storm &
storm1=$!
storm &
storm2=$!
for round in 1 2 3; do
	insmod /modules/cn_proc_example.ko || fail "insmod (round $round) failed"
	cnctl proc --timeout-ms 2500 >/tmp/storm.out 2>/tmp/storm.err &
	listener=$!
	sleep 1.5
	rmmod cn_proc_example || fail "rmmod under the fork storm (round $round) failed"
	wait $listener || fail "listener (round $round) failed: $(cat /tmp/storm.err)"
	echo "round $round: $(grep -c '^proc ' /tmp/storm.out) events"
	grep -q " exit pid=[0-9]* tgid=[0-9]* exit_code=256 " /tmp/storm.out ||
		fail "no events of the storm in round $round"
done
kill $storm1 $storm2
wait $storm1 $storm2 2>/dev/null
insmod /modules/cn_proc_example.ko || fail "insmod after the storm failed"
cnctl proc --timeout-ms 3000 >/tmp/storm.out 2>&1 &
listener=$!
sleep 1
sh -c 'exit 2' &
child=$!
wait $child
wait $listener
grep -E -q " exit pid=$child tgid=$child exit_code=512 " /tmp/storm.out ||
	fail "no exit event after the reload: $(cat /tmp/storm.out)"
