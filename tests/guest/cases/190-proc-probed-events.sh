# UID, GID, SID and PTRACE events (cn_proc_example's fprobes), as the C connector sends them: a
# child that calls setsid() (and again, failing), setgid(1000), setuid(1000) (and again, changing
# nothing) and ptrace(PTRACE_TRACEME) makes exactly one SID, one GID (rgid=egid=1000), one UID
# (ruid=euid=1000) and one PTRACE event (its parent as tracer; C sends none for TRACEME); setsid()
# in a second thread makes SID for the leader; PTRACE_ATTACH and PTRACE_SEIZE from another process
# each make an attach event (that process as tracer), also for a thread (pid != tgid), and
# PTRACE_DETACH one with tracer 0; a refused PTRACE_ATTACH (uid 1000 on root's process) makes
# none; an execve() of a setuid-root binary by uid 1000 makes a UID event ruid=1000 euid=0.
# Per-socket filters apply: a FORK listener gets none of these, a UID|PTRACE listener only those
# two kinds. Every probe attaches on the test kernel (no "cannot probe" at load).
. /tests/lib.sh
. /tests/proc.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
expect_no_dmesg "cannot probe"

UID_EV=0x4
PTRACE_EV=0x100
proc_listen all 10000
proc_listen fork 10000 --filter 0x1
proc_listen uid_ptrace 10000 --filter $((UID_EV | PTRACE_EV))
for name in all fork uid_ptrace; do proc_requested $name; done

out=$(proctrigger ids 1000 1000) || fail "proctrigger ids failed"
child=$(echo "$out" | sed -n 's/^child=\([0-9]*\) .*/\1/p')
parent=$(echo "$out" | sed -n 's/.* parent=\([0-9]*\)$/\1/p')
[ -n "$child" ] && [ -n "$parent" ] || fail "proctrigger ids printed '$out'"

out=$(proctrigger thread-setsid) || fail "proctrigger thread-setsid failed"
tchild=$(echo "$out" | sed -n 's/^child=\([0-9]*\) .*/\1/p')
tid=$(echo "$out" | sed -n 's/.* tid=\([0-9]*\)$/\1/p')
[ -n "$tchild" ] && [ -n "$tid" ] || fail "proctrigger thread-setsid printed '$out'"

proctrigger thread-wait >/tmp/thread-wait.out &
waiter=$!
sleep 30 &
target=$!
as_user proctrigger attach $target 2>/dev/null && fail "uid 1000 attached to root's process"
_i=0
until grep -q tid= /tmp/thread-wait.out; do
	_i=$((_i + 1))
	[ $_i -le 50 ] || fail "proctrigger thread-wait printed nothing"
	sleep 0.1
done
wtid=$(sed -n 's/.* tid=\([0-9]*\)$/\1/p' /tmp/thread-wait.out)
out=$(proctrigger attach $wtid) || fail "proctrigger attach (a thread) failed"
wattacher=${out#tracer=}
kill $waiter
out=$(proctrigger attach $target) || fail "proctrigger attach failed"
attacher=${out#tracer=}
out=$(proctrigger seize $target) || fail "proctrigger seize failed"
seizer=${out#tracer=}
kill $target

out=$(as_user /bin/proctrigger-suid noop) || fail "the setuid-root proctrigger failed"
echo "$out" | grep -q " ruid=1000 euid=0$" || fail "not run setuid root by uid 1000: $out"
suid=$(echo "$out" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')

wait
for name in all fork uid_ptrace; do
	echo "---- $name"
	cat /tmp/$name.out
done

# count NAME RE: the number of events of listener NAME matching RE.
count() { grep -E -c -- "$2" /tmp/$1.out; }
one() { [ "$(count all "$1")" = 1 ] || fail "not exactly one event matching '$1'"; }
one " sid pid=$child tgid=$child cpu="
one " gid pid=$child tgid=$child rgid=1000 egid=1000 cpu="
one " uid pid=$child tgid=$child ruid=1000 euid=1000 cpu="
one " ptrace pid=$child tgid=$child tracer_pid=$parent tracer_tgid=$parent cpu="
[ "$(count all " (uid|gid|sid|ptrace) pid=$child ")" = 4 ] || fail "more events of the child than four"
one " ptrace pid=$target tgid=$target tracer_pid=$attacher tracer_tgid=$attacher cpu="
one " ptrace pid=$target tgid=$target tracer_pid=$seizer tracer_tgid=$seizer cpu="
[ "$(count all " ptrace pid=$target tgid=$target tracer_pid=0 tracer_tgid=0 cpu=")" = 2 ] ||
	fail "not two detach events of $target"
[ "$(count all " ptrace pid=$target ")" = 4 ] || fail "events of the refused attach to $target"
one " sid pid=$tchild tgid=$tchild cpu="
[ "$(count all " sid pid=$tid ")" = 0 ] || fail "a SID event names the thread $tid, not its leader"
one " ptrace pid=$wtid tgid=$waiter tracer_pid=$wattacher tracer_tgid=$wattacher cpu="
one " ptrace pid=$wtid tgid=$waiter tracer_pid=0 tracer_tgid=0 cpu="
one " uid pid=$suid tgid=$suid ruid=1000 euid=0 cpu="

# (Before its request, a listener gets every event, as in C: only the events of the processes of
# this case count, which all come after the requests.)
ours="pid=($child|$tchild|$target|$waiter|$wtid|$suid) "
theirs() { grep -E -- "$2" /tmp/$1.out | grep -E -c -- "$ours"; }
[ "$(theirs fork " (uid|gid|sid|ptrace) ")" = 0 ] || fail "the FORK listener got other events"
[ "$(count fork " fork .* child_pid=$child ")" = 1 ] || fail "the FORK listener missed the fork of $child"
[ "$(theirs uid_ptrace " (gid|sid|fork|exec|exit) ")" = 0 ] ||
	fail "the UID|PTRACE listener got other events"
[ "$(count uid_ptrace " uid pid=$child ")" = 1 ] || fail "the UID|PTRACE listener missed the uid event"
[ "$(count uid_ptrace " ptrace pid=$target ")" = 4 ] || fail "the UID|PTRACE listener missed ptrace events"
