# Process events across teardown, with listeners in containers that have their own user, pid and
# network namespaces (each a session of its own: a listener, and a loop of short-lived processes
# making events there).
#  1. `rmmod cn_proc_example` while they listen and make events: it succeeds (their sockets hold
#     connector.ko, not cn_proc_example), and the purge of their subscriptions gives back their
#     views, with the references on their network namespaces. Loaded again, the module serves a
#     new container listener.
#  2. The containers are killed as groups mid-events: their namespaces go with their listeners'
#     views; then connector.ko is unloaded (which a view's leftover socket would refuse).
#  No kernel splat (a reference dropped twice is a refcount warning) and no kmemleak report.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
. /tests/proc.sh
. /tests/netns.sh
rm -f /tmp/cont.*

# start_container I: container I's listener (/tmp/cont.I.out) and event loop, in a session of its
# own; sets $pg (the session's leader).
start_container() {
	setsid unshare -U -r -n -p -f --mount-proc sh -c "
		cnctl proc --timeout-ms 120000 >/tmp/cont.$1.out 2>/tmp/cont.$1.err &
		while :; do sh -c 'exit 0'; sleep 0.05; done" &
	pg=$!
	wait_group_leader $pg
}

load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
start_container 1
c1=$pg
start_container 2
c2=$pg
for i in 1 2; do
	wait_for /tmp/cont.$i.out '^proc [0-9.]+ none err=0 ' 15 "container $i's listener got no ack"
	wait_for /tmp/cont.$i.out '^proc [0-9.]+ exit ' 15 "container $i's listener got no exit event"
done

# 1. The module goes under them, and comes back.
rmmod cn_proc_example || fail "rmmod cn_proc_example failed while containers listened"
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed again"
start_container 3
c3=$pg
wait_for /tmp/cont.3.out '^proc [0-9.]+ none err=0 ' 15 "a new container's listener got no ack after the reload"
wait_for /tmp/cont.3.out '^proc [0-9.]+ exit ' 15 "a new container's listener got no exit event after the reload"

# 2. The containers go mid-events, then the modules.
kill -KILL -$c1 -$c2 -$c3
wait $c1 $c2 $c3
rmmod cn_proc_example || fail "rmmod cn_proc_example failed"
rmmod_retry connector 10
CASE_MARK=$NS_START_MARK
expect_no_splat
expect_no_leak
