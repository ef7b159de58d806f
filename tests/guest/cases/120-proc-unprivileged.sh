# Who may listen: any user, no capability needed, as cn_proc.c in 7.3 decides for the initial
# user and pid namespaces. (Listeners in other namespaces, which C ignores, are cases 197 and 198.)
. /tests/lib.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
cnctl --as-uid 1000 proc --timeout-ms 3000 >/tmp/unpriv.out 2>/tmp/unpriv.err &
listener=$!
wait_until 5 "the unprivileged listener sent no request" grep -q "^sent proc op=1" /tmp/unpriv.err
sh -c 'exit 7' &
child=$!
wait $child
wait $listener || fail "the unprivileged listener failed: $(cat /tmp/unpriv.err)"
cat /tmp/unpriv.out
grep -E -q " none err=0 ack=1 " /tmp/unpriv.out || fail "no acknowledgement"
grep -E -q " fork .* child_pid=$child " /tmp/unpriv.out || fail "no fork event"
grep -E -q " exit pid=$child tgid=$child exit_code=1792 " /tmp/unpriv.out || fail "no exit event"
