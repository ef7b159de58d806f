# The per-user bound on the views of process events. A user's listeners, each in a user
# namespace of its own, hold at most 4 views; a 5th namespace's LISTEN by that user is refused,
# answered EDQUOT (122) on its own socket. The user is the owner of the container's user
# namespace: the unprivileged `user` (uid 1000), and root as well once it is in a user namespace
# of its own (no CAP_SYS_ADMIN in the initial one: what a container without a user namespace
# would be, one user, uid 0). Each user has its own 4. The host's administrator (root in the
# initial user namespace, here in network namespaces of its own) has no limit. Once one of a
# user's listeners has gone, that user gets a view again. Before the bound, one user could take
# all 16 views and refuse every other container's listeners; with a bound by effective uid, root
# in user namespaces (euid 0) was exempt.
. /tests/lib.sh
. /tests/adv.sh
. /tests/proc.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
mark_dmesg
rm -f /tmp/views.*

# listen_as NAME WHO UNSHARE_OPTIONS: a listener for 60 s in the namespaces those options make, as
# WHO (user: the unprivileged user; root), its events in /tmp/views.NAME.out, its pid (that of
# cnctl: unshare and cnctl take it by exec) in /tmp/views.NAME.pid; waits for its request.
listen_as() {
	_name=$1 _who=$2
	shift 2
	_cmd="echo \$\$ >/tmp/views.$_name.pid; exec unshare $* cnctl proc --timeout-ms 60000"
	if [ "$_who" = user ]; then
		as_user sh -c "$_cmd" >/tmp/views.$_name.out 2>/tmp/views.$_name.err &
	else
		sh -c "$_cmd" >/tmp/views.$_name.out 2>/tmp/views.$_name.err &
	fi
	proc_requested views.$_name
}

# expect_answer NAME ERR: listener NAME's request was answered with error ERR.
expect_answer() {
	wait_for /tmp/views.$1.out "^proc [0-9.]+ none err=$2 " 10 "listener $1 was not answered err=$2"
}

for who in user root; do
	for i in 1 2 3 4; do
		listen_as $who$i $who -U -r
		expect_answer $who$i 0
	done
	listen_as ${who}5 $who -U -r
	expect_answer ${who}5 122
done
for i in 1 2; do
	listen_as admin$i root -n
	expect_answer admin$i 0
done

first=$(cat /tmp/views.user1.pid)
kill "$first"
_i=0
while kill -0 "$first" 2>/dev/null; do
	_i=$((_i + 1))
	[ $_i -le 100 ] || fail "the user's first listener did not end"
	sleep 0.1
done
listen_as user6 user -U -r
expect_answer user6 0
for pid in /tmp/views.*.pid; do kill "$(cat "$pid")" 2>/dev/null; done
wait
expect_no_dmesg "cn_proc|EDQUOT"
