# Process events (cn_proc_example): a listener gets its request acknowledged, then the fork, exec
# and exit of `sh -c 'exit 3'` (exit code 3 << 8, exit signal SIGCHLD) with the pids and parent
# the C connector sends, those of /bin/true without a rename event (exec's own rename is none),
# the double exec of `sh -c 'exec /bin/true'`, and renames through /proc/self/comm (truncated to
# 15 bytes). Per CPU, the sequence numbers run from 0 without a gap; timestamps are the monotonic
# clock.
. /tests/lib.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
out=/tmp/proc-events.out
cnctl proc --timeout-ms 8000 >$out 2>/tmp/proc-events.err &
listener=$!

# wait_line RE: waits up to 5 s for an event line matching the extended regex RE.
wait_line() {
	_i=0
	until grep -E -q -- "$1" $out; do
		_i=$((_i + 1))
		if [ $_i -gt 50 ]; then
			cat $out /tmp/proc-events.err
			fail "no event line matching '$1'"
		fi
		sleep 0.1
	done
}
# count RE: the number of event lines matching RE.
count() { grep -E -c -- "$1" $out; }
# line_of RE: the line number of the first event line matching RE.
line_of() { grep -E -n -- "$1" $out | head -n 1 | cut -d: -f1; }

wait_line "^proc [0-9]+\.[0-9]{9} none err=0 ack=1 cpu=[0-9]+ seq=[0-9]+$"
me=$$

start=$(cut -d' ' -f1 /proc/uptime)
sh -c 'exit 3' &
child=$!
wait $child
[ $? = 3 ] || fail "sh -c 'exit 3' did not exit with 3"
fork_re="^proc [0-9.]+ fork parent_pid=$me parent_tgid=$me child_pid=$child child_tgid=$child cpu="
exec_re="^proc [0-9.]+ exec pid=$child tgid=$child cpu="
exit_re="^proc [0-9.]+ exit pid=$child tgid=$child exit_code=768 exit_signal=17 parent_pid=$me parent_tgid=$me cpu="
wait_line "$fork_re"
wait_line "$exec_re"
wait_line "$exit_re"
for re in "child_pid=$child " " pid=$child .*exit_code=" " exec pid=$child "; do
	[ "$(count "$re")" = 1 ] || fail "not exactly one event matching '$re'"
done
[ "$(line_of "$fork_re")" -lt "$(line_of "$exec_re")" ] || fail "exec before fork"
[ "$(line_of "$exec_re")" -lt "$(line_of "$exit_re")" ] || fail "exit before exec"
# The fork's timestamp (monotonic ns since boot) is within 2 s of the uptime read before it.
ts=$(grep -E "$fork_re" $out | cut -d' ' -f2)
awk -v t="$ts" -v s="$start" 'BEGIN { exit !(t >= s - 0.1 && t < s + 2) }' ||
	fail "fork timestamp $ts is not near the uptime $start"

/bin/true &
child=$!
wait $child
wait_line "^proc [0-9.]+ fork parent_pid=$me parent_tgid=$me child_pid=$child child_tgid=$child "
wait_line "^proc [0-9.]+ exec pid=$child tgid=$child cpu="
wait_line "^proc [0-9.]+ exit pid=$child tgid=$child exit_code=0 exit_signal=17 parent_pid=$me "
grep -q " comm pid=$child " $out && fail "exec's rename of $child reported as a comm event"

sh -c 'exec /bin/true' &
child=$!
wait $child
wait_line "^proc [0-9.]+ exit pid=$child tgid=$child exit_code=0 exit_signal=17 "
[ "$(count " exec pid=$child tgid=$child ")" = 2 ] || fail "expected two exec events for $child"

sh -c 'echo -n cn-renamed >/proc/self/comm' &
child=$!
wait $child
wait_line "^proc [0-9.]+ comm pid=$child tgid=$child comm=\"cn-renamed\" cpu="
sh -c 'echo -n abcdefghijklmnopqrstuvwxyz >/proc/self/comm' &
child=$!
wait $child
wait_line "^proc [0-9.]+ comm pid=$child tgid=$child comm=\"abcdefghijklmno\" cpu="
wait_line "^proc [0-9.]+ exit pid=$child tgid=$child exit_code=0 "

wait $listener || fail "the listener failed"
cat $out
# Per CPU: sequence numbers 0, 1, 2, ... in arrival order (one listener for all events).
awk '{
	for (i = 1; i <= NF; i++) {
		if ($i ~ /^cpu=/) c = substr($i, 5)
		if ($i ~ /^seq=/) s = substr($i, 5)
	}
	want = (c in next_seq) ? next_seq[c] : 0
	if (s != want) { print "cpu " c ": seq " s ", expected " want; bad = 1 }
	next_seq[c] = s + 1
} END { exit bad }' $out || fail "sequence numbers are not per-CPU consecutive from 0"
