# The per-user bound on the views of process events: at most 4 views count against one account;
# a 5th namespace's LISTEN is refused, answered EDQUOT (122) on its own socket. The account of a
# listener in a container is the owner of the container's outermost user namespace, whatever
# uids are mapped in it; for a container that root made, that namespace itself, so that the
# containers of a root runtime do not share one account.
#  - the unprivileged `user` (uid 1000), each listener in a user namespace of its own: 4, then
#    EDQUOT;
#  - one container made by root (`unshare -U -r sleep`), with listeners in nested user
#    namespaces inside it (entered with nsenter): 4, then EDQUOT;
#  - two more containers made by root: accepted (their own accounts);
#  - the host's network administrator (root in the initial user namespace, here in network
#    namespaces of its own): no limit;
#  - once one of the user's listeners has gone, the user gets a view again.
# Before the bound, one user could take all 16 views and refuse every other container's
# listeners; with a bound by effective uid, root in a user namespace was exempt (uid 0) and a
# container could use as many accounts as it has uids mapped.
. /tests/lib.sh
. /tests/adv.sh
. /tests/proc.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
mark_dmesg
rm -f /tmp/views.*

# listen_as NAME UNSHARE_OPTIONS [-- PREFIX...]: a listener for 60 s in the namespaces those
# options make, started through PREFIX (as_user, nsenter ...; none: as root), its events in
# /tmp/views.NAME.out, its pid (that of cnctl: unshare and cnctl take it by exec) in
# /tmp/views.NAME.pid; waits for its request.
listen_as() {
	_name=$1 _opts=$2
	shift 2
	[ "${1:-}" = -- ] && shift
	"$@" sh -c "echo \$\$ >/tmp/views.$_name.pid; exec unshare $_opts cnctl proc --timeout-ms 60000" \
		>/tmp/views.$_name.out 2>/tmp/views.$_name.err &
	proc_requested views.$_name
}

# expect_answer NAME ERR: listener NAME's request was answered with error ERR.
expect_answer() {
	wait_for /tmp/views.$1.out "^proc [0-9.]+ none err=$2 " 10 "listener $1 was not answered err=$2"
}

for i in 1 2 3 4; do
	listen_as user$i "-U -r" -- as_user
	expect_answer user$i 0
done
listen_as user5 "-U -r" -- as_user
expect_answer user5 122

unshare -U -r sleep 120 &
container=$!
for i in 1 2 3 4; do
	listen_as nested$i "-U -r" -- nsenter -t $container -U
	expect_answer nested$i 0
done
listen_as nested5 "-U -r" -- nsenter -t $container -U
expect_answer nested5 122
for i in 1 2; do
	listen_as container$i "-U -r"
	expect_answer container$i 0
done
for i in 1 2; do
	listen_as admin$i -n
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
listen_as user6 "-U -r" -- as_user
expect_answer user6 0
for pid in /tmp/views.*.pid; do kill "$(cat "$pid")" 2>/dev/null; done
kill $container
wait
expect_no_dmesg "cn_proc|EDQUOT"
