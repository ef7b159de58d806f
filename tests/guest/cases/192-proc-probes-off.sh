# cn_proc_example with probe_events=0 sends no UID, GID, SID or PTRACE event while the tracepoint
# events still come. Then, loaded with its probes, it unloads cleanly while two tasks change their
# effective uid in a loop, a third makes new sessions, and a listener gets their events (which it
# must), three times over; the log check and kmemleak catch what goes wrong, and no call ran
# unprobed.
# On CPU 0 only: see on_one_cpu in lib.sh (cn_proc_example registers fprobes under load here).
. /tests/lib.sh
. /tests/proc.sh
on_one_cpu
load_core
insmod /modules/cn_proc_example.ko probe_events=0 || fail "insmod probe_events=0 failed"
proc_listen off 3000
listener=$!
proc_requested off
out=$(proctrigger ids 1000 1000) || fail "proctrigger ids failed"
child=$(echo "$out" | sed -n 's/^child=\([0-9]*\) .*/\1/p')
wait $listener || fail "listener failed: $(cat /tmp/off.err)"
cat /tmp/off.out
grep -E -q " exit pid=$child tgid=$child " /tmp/off.out || fail "no exit event of $child"
grep -E -q " (uid|gid|sid|ptrace) " /tmp/off.out && fail "probed events with probe_events=0"
rmmod cn_proc_example || fail "rmmod failed"

proctrigger ids-loop 0 &
loop1=$!
proctrigger ids-loop 0 &
loop2=$!
proctrigger setsid-loop 0 &
loop3=$!
for round in 1 2 3; do
	insmod /modules/cn_proc_example.ko || fail "insmod (round $round) failed"
	proc_listen loop 2500
	listener=$!
	proc_requested loop
	sleep 1
	rmmod cn_proc_example || fail "rmmod under the credential loop (round $round) failed"
	wait $listener || fail "listener (round $round) failed: $(cat /tmp/loop.err)"
	echo "round $round: $(grep -c ' uid ' /tmp/loop.out) uid, $(grep -c ' sid ' /tmp/loop.out) sid events"
	grep -q " uid pid=$loop1 tgid=$loop1 ruid=0 euid=1000 " /tmp/loop.out ||
		fail "no uid event of the loop in round $round"
	grep -q " sid pid=" /tmp/loop.out || fail "no sid event in round $round"
done
kill $loop1 $loop2 $loop3
wait $loop1 $loop2 $loop3 2>/dev/null
expect_no_dmesg "ran unprobed"
