# An unprivileged user cannot hide other users' PTRACE events by keeping ptrace() calls in flight:
# uid 1000 parks 200 PTRACE_ATTACH calls on its own process, blocked on that process's
# cred_guard_mutex (a thread traced with PTRACE_TRACEME by a tracer that never reaps it while the
# process execs: the exec/ptrace deadlock); meanwhile root's attach and detach of another process
# each make their event. (With a shared pool of 128 return-probe instances, as kretprobes have,
# these events were lost.) Then the module unloads with the calls still parked, and the log stays
# clean when they end.
# timeout: 300
. /tests/lib.sh
. /tests/adv.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
start_proc_listener /tmp/parked.out

as_user proctrigger park 200 >/tmp/park.out 2>/tmp/park.err &
wait_for /tmp/park.out "^target=" 60 "the parked attachers did not start: $(cat /tmp/park.err)"
parker=$(sed -n 's/.* tracer=//p' /tmp/park.out)
# The attachers are in flight once all 200 sleep (in ptrace()).
_i=0
until [ "$(awk -v p=$parker 'FNR == 1 { s = "" } /^State:/ { s = $2 } /^PPid:/ && $2 == p && s == "S" { n++ }
	END { print n + 0 }' /proc/[0-9]*/status 2>/dev/null)" -ge 200 ]; do
	_i=$((_i + 1))
	[ $_i -le 150 ] || fail "fewer than 200 attachers asleep"
	sleep 0.2
done
sleep 30 &
target=$!
out=$(proctrigger attach $target) || fail "root's attach failed"
tracer=${out#tracer=}
wait_for /tmp/parked.out " ptrace pid=$target tgid=$target tracer_pid=$tracer tracer_tgid=$tracer " 10 \
	"root's attach made no event with the attachers parked"
wait_for /tmp/parked.out " ptrace pid=$target tgid=$target tracer_pid=0 tracer_tgid=0 " 10 \
	"root's detach made no event with the attachers parked"
kill $target

rmmod cn_proc_example || fail "rmmod with the calls parked failed"
# Killing the tracer lets the exec go on; the attachers' calls then end.
kill -9 $parker
_i=0
while pgrep -f 'proctrigger park' >/dev/null; do
	_i=$((_i + 1))
	[ $_i -le 100 ] || fail "the parked attachers did not end"
	sleep 0.2
done
kill $listener 2>/dev/null
insmod /modules/cn_proc_example.ko || fail "insmod after the parked calls failed"
rmmod cn_proc_example || fail "rmmod failed"
