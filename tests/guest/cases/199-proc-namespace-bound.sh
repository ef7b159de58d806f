# The bound on listeners' namespaces: 16 listeners, each in a network namespace of its own (root
# in the initial user namespace: no per-user bound, see 194), take the 16 views besides the
# initial one, and each gets its own request acknowledged; a 17th namespace's LISTEN (from a user
# namespace) is refused, answered ENOSPC (28) on its own socket; a host listener is not affected;
# once one of the 16 has gone, a new namespace's listener is accepted again. No log line.
# Meanwhile a host socket that listens (initial view) sends LISTEN again from an 18th user
# namespace (its process moved there, as one with the descriptor would be): refused ENOSPC, it
# still listens in the initial view, and the ENOSPC goes to it only, not to the host listener
# (before: broadcast in the socket's view, the initial one).
# Before them, a socket in a user namespace of its own sends LISTEN then IGNORE (one datagram)
# and stays open: it does not listen, so it holds no slot, and the 16 are all accepted.
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
. /tests/proc.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
mark_dmesg

unshare -U -r cnraw -g 1 -x "$(proc_msg $PROC_LISTEN 0)$(proc_msg $PROC_IGNORE 0)" -t 60000 \
	>/tmp/ignored.out 2>/tmp/ignored.err &
ignored=$!
wait_for /tmp/ignored.err "^sent len=" 15 "the ignoring socket did not send"
sleep 0.5

pids=
i=1
while [ $i -le 16 ]; do
	unshare -n cnctl proc --timeout-ms 60000 >/tmp/ns$i.out 2>/tmp/ns$i.err &
	pids="$pids $!"
	proc_requested ns$i
	i=$((i + 1))
done
# shellcheck disable=SC2086
set -- $pids
first=$1
i=1
while [ $i -le 16 ]; do
	_j=0
	until grep -E -q '^proc [0-9.]+ none err=0 ' /tmp/ns$i.out; do
		_j=$((_j + 1))
		[ $_j -le 50 ] || fail "listener $i in its own network namespace got no acknowledgement"
		sleep 0.1
	done
	i=$((i + 1))
done

unshare -U -r cnctl proc --timeout-ms 2000 >/tmp/ns17.out 2>/tmp/ns17.err
cat /tmp/ns17.out
grep -E -q '^proc [0-9.]+ none err=28 ' /tmp/ns17.out || fail "a 17th namespace's LISTEN was not refused with ENOSPC"

proc_listen host 60000
hl=$!
proc_requested host
lst=$(proc_msg $PROC_LISTEN 0)
cnraw -g 1 -x "$lst" -n "$lst" -d 300 -t 700 >/tmp/moved.out 2>/tmp/moved.err ||
	fail "the moving socket failed: $(cat /tmp/moved.err)"
echo "---- the socket that listens from the host, then from a new user namespace ----"
cat /tmp/moved.out
grep -q " what=0x00000000 err=0$" /tmp/moved.out || fail "the host socket's LISTEN was not acknowledged"
grep -q " what=0x00000000 err=28$" /tmp/moved.out ||
	fail "the LISTEN from an 18th namespace was not answered ENOSPC on its socket"
sh -c 'exit 3' &
child=$!
wait $child
wait_for /tmp/host.out " exit pid=$child tgid=$child exit_code=768 " 20 "the host listener missed an exit"
kill $hl
wait $hl
if grep -E " none err=28 " /tmp/host.out; then
	fail "the host listener got the ENOSPC of another socket's LISTEN"
fi

kill $first
wait $first
unshare -U -r cnctl proc --timeout-ms 2000 >/tmp/ns18.out 2>/tmp/ns18.err
cat /tmp/ns18.out
grep -E -q '^proc [0-9.]+ none err=0 ' /tmp/ns18.out || fail "a new namespace was refused after one had gone"
kill $pids $ignored 2>/dev/null
wait
expect_no_dmesg "cn_proc|ENOSPC"
