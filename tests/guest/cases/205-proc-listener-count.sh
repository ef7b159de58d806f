# Found by 200-fuzz: one socket's requests must not count off the other listeners. A socket that
# sends LISTEN, then twice an unknown operation followed by IGNORE (as the fuzzer does, all in
# one datagram), counts itself in once and out twice under the C rules (after an unknown
# operation, IGNORE uncounts again); the global count then says nobody listens and no event is
# built for anybody. Here an unprivileged user does it while a listener runs: the listener must
# still get the exit of a new process.
. /tests/lib.sh
. /tests/cn.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
cnctl proc --timeout-ms 6000 >/tmp/count.out 2>&1 &
listener=$!
sleep 1
# One request to {1, 1}: struct proc_input {op, PROC_EVENT_ALL}.
req() { nlmsg 44 0 "$(cnmsg 1 1 0 0 8 "$(le32 "$1")$(le32 $((0xe00003c7)))")"; }
as_user cnctl raw --hex "$(req 1)$(req 7)$(req 2)$(req 7)$(req 2)" || fail "cnctl raw failed"
sh -c 'exit 3' &
child=$!
wait $child
wait $listener
grep -q " exit pid=$child tgid=$child exit_code=768 " /tmp/count.out ||
	fail "the listener got no exit event after another socket's LISTEN, ?, IGNORE, ?, IGNORE: $(cat /tmp/count.out)"
