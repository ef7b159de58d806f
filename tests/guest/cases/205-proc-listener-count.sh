# Found by 200-fuzz: one socket's requests must not count off the other listeners. A socket that
# sends LISTEN, then twice an unknown operation followed by IGNORE (as the fuzzer does, all in
# one datagram), counts itself in once and out twice under the C rules (after an unknown
# operation, IGNORE uncounts again); the global count then says nobody listens and no event is
# built for anybody. Here an unprivileged user does it while a listener runs: the listener must
# still get the exit of a new process.
# timeout: 300
. /tests/lib.sh
. /tests/cn.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
# One request to {1, 1}, written out (the helpers of cn.sh fork a lot, which is slow under
# KASAN): `nlmsg 44 0 "$(cnmsg 1 1 0 0 8 "$(le32 OP)$(le32 0xe00003c7)")"`, i.e. a netlink
# header (len 44, NLMSG_DONE), a cn_msg header (id 1:1, len 8) and struct proc_input
# {OP, PROC_EVENT_ALL}.
req() {
	printf '%s%s%s' 2c000000030000000000000000000000 01000000010000000000000000000000080000000 \
		"${1}000000c70300e0"
}
dgram="$(req 1)$(req 7)$(req 2)$(req 7)$(req 2)"
out=/tmp/count.out
cnctl proc >$out 2>&1 &
listener=$!
# wait_line RE: waits up to 30 s (the guest may be slow) for a line of the listener matching RE.
wait_line() {
	_i=0
	until grep -q -- "$1" $out 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -le 150 ] || return 1
		sleep 0.2
	done
}
wait_exit() { wait_line " exit pid=$1 tgid=$1 exit_code=$2 "; }
# Subscribed once its request is acknowledged.
wait_line " none err=0 " || fail "the listener's request was not acknowledged: $(cat $out)"
sh -c 'exit 4' &
child=$!
wait $child
wait_exit $child 1024 || fail "the listener got no exit event to begin with: $(cat $out)"
as_user cnctl raw --hex "$dgram" || fail "cnctl raw failed"
sh -c 'exit 3' &
child=$!
wait $child
wait_exit $child 768 ||
	fail "the listener got no exit event after another socket's LISTEN, ?, IGNORE, ?, IGNORE:" \
		"$(tail -n 5 $out)"
kill $listener
wait $listener 2>/dev/null || true
