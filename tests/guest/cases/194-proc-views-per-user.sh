# The per-user bound on the views of process events: an unprivileged user's listeners, each in a
# user namespace of its own, hold at most 4 views; a 5th namespace's LISTEN by that user is
# refused, answered EDQUOT (122) on its own socket, while the global root still gets a view of a
# new namespace; once one of the user's listeners has gone, the user gets a view again. Before
# the bound, one user could take all 16 views and refuse every other container's listeners.
. /tests/lib.sh
. /tests/adv.sh
. /tests/proc.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
mark_dmesg
rm -f /tmp/user*.pid

i=1
while [ $i -le 4 ]; do
	# The listener's own pid (that of `as_user` is a shell's): unshare and cnctl take it by exec.
	as_user sh -c 'echo $$ >/tmp/user'$i'.pid; exec unshare -U -r cnctl proc --timeout-ms 60000' \
		>/tmp/user$i.out 2>/tmp/user$i.err &
	proc_requested user$i
	wait_for /tmp/user$i.out '^proc [0-9.]+ none err=0 ' 10 "the user's listener $i was not accepted"
	i=$((i + 1))
done

as_user unshare -U -r cnctl proc --timeout-ms 2000 >/tmp/user5.out 2>/tmp/user5.err
cat /tmp/user5.out
grep -E -q '^proc [0-9.]+ none err=122 ' /tmp/user5.out ||
	fail "the user's 5th namespace's LISTEN was not refused with EDQUOT"
unshare -U -r cnctl proc --timeout-ms 2000 >/tmp/root.out 2>/tmp/root.err
grep -E -q '^proc [0-9.]+ none err=0 ' /tmp/root.out ||
	fail "root's listener in a new namespace was refused: $(cat /tmp/root.out)"

first=$(cat /tmp/user1.pid)
kill "$first"
_i=0
while kill -0 "$first" 2>/dev/null; do
	_i=$((_i + 1))
	[ $_i -le 100 ] || fail "the user's first listener did not end"
	sleep 0.1
done
as_user unshare -U -r cnctl proc --timeout-ms 2000 >/tmp/user6.out 2>/tmp/user6.err
grep -E -q '^proc [0-9.]+ none err=0 ' /tmp/user6.out ||
	fail "the user was refused after one of its listeners had gone: $(cat /tmp/user6.out)"
for i in 2 3 4; do kill "$(cat /tmp/user$i.pid)"; done
wait
expect_no_dmesg "cn_proc|EDQUOT"
