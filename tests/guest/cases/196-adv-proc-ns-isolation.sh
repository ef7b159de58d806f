# Adversarial: nothing of the host reaches a process in a user namespace that does not listen
# there, and acknowledgements stay in the requester's namespaces.
#  - A namespace listener (`unshare -U -r cnctl proc`) gets its own acknowledgement only: not
#    that of a host listener started after it (before: every acknowledgement went to every view).
#  - A socket in another user namespace that joins group 1 and sends ONE unknown operation
#    {7, PROC_EVENT_ALL} (cnraw) gets its refusal, EINVAL (22), on its own socket, and no event of
#    a host process while the host listener runs (before: its subscription kept the initial view
#    with op 7 and the mask, and it got every host event, with host pids; and after the first fix
#    its refusal reached nobody but the host listeners).
#  - The host listener does not get that refusal (it is not broadcast to the host's view).
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
. /tests/proc.sh
load_proc
rm -f /tmp/nsl.* /tmp/host.* /tmp/op7.*

unshare -U -r cnctl proc --timeout-ms 20000 >/tmp/nsl.out 2>/tmp/nsl.err &
nsl=$!
wait_for /tmp/nsl.out "^proc [0-9.]+ none err=0 ack=1 " 15 "the namespace listener got no acknowledgement"
proc_listen host 15000
host=$!
wait_for /tmp/host.out "^proc [0-9.]+ none err=0 ack=1 " 15 "the host listener got no acknowledgement"

unshare -U -r cnraw -g 1 -x "$(proc_msg 7 0xe00003c7)" -t 5000 >/tmp/op7.out 2>/tmp/op7.err &
op7=$!
wait_for /tmp/op7.err "^sent len=" 15 "the op 7 socket did not send"
wait_for /tmp/op7.out " err=22" 10 "the unknown operation from a user namespace got no EINVAL answer"
sh -c 'exit 3' &
child=$!
wait $child
wait_for /tmp/host.out " exit pid=$child tgid=$child exit_code=768 " 10 "the host listener missed the exit of $child"
wait $op7
echo "---- op 7 socket (user namespace, no LISTEN)"
cat /tmp/op7.out
n=$(grep -c "^recv idx=1 val=1 " /tmp/op7.out)
[ "$n" = 1 ] || fail "the op 7 socket got $n process messages (expected its EINVAL answer only)"
grep -q " err=22" /tmp/host.out && fail "the host listener got the EINVAL answer of a user namespace's socket"
kill $nsl $host 2>/dev/null
wait
echo "---- namespace listener"
cat /tmp/nsl.out
n=$(grep -E -c "^proc [0-9.]+ none " /tmp/nsl.out)
[ "$n" = 1 ] || fail "the namespace listener got $n acknowledgements (expected its own only)"
true
