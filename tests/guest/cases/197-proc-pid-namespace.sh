# Process events in a pid namespace: a listener started inside `unshare -p -f --mount-proc`
# (whose shell is pid 1 there) gets its own request acknowledged, and the fork and exit of its
# shell's child `sh -c 'exit 3'` with the namespace's pids (parent 1) and nothing of the host: a
# host process started while it listens (`sh -c 'exit 5'`) is absent, and no pid it sees is a
# host pid (the host pids of the processes started since are above that of the namespace's
# pid 1, those of the case's shell and of the host listener below). A host listener at the same
# time sees the same child with host pids, its parent being the host pid of the namespace's pid 1
# (the child of `unshare`).
# The case runs on one CPU: the namespace listener's sequence numbers there are 0, 1, 2, ...
# without a gap, though the host's process made events in between (before: one number per CPU
# for all views, and the gaps counted the host's events).
# Then the same in a container with its own user and network namespaces too
# (`unshare -U -r -n -p -f --mount-proc`): its listener's socket is in its network namespace,
# where the core has a socket of its own and the process events callback is listed in
# /proc/net/connector (before: no connector there, the LISTEN failed with ECONNREFUSED).
. /tests/lib.sh
. /tests/proc.sh
on_one_cpu
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"

# check_container UNSHARE_OPTIONS...: the checks above, for a container made by `unshare` with
# those options.
check_container() {
	echo "==== unshare $* ===="
	rm -f /tmp/pidns.* /tmp/host.*

	proc_listen host 15000
	host_listener=$!
	proc_requested host

	cat >/tmp/pidns.inner <<-'INNER'
	echo "pid=$$" >/tmp/pidns.self
	cat /proc/net/connector >/tmp/pidns.procnet
	cnctl proc --timeout-ms 6000 >/tmp/pidns.inner.out 2>/tmp/pidns.inner.err &
	listener=$!
	i=0
	until grep -q '^sent proc op=' /tmp/pidns.inner.err; do
		i=$((i + 1))
		[ $i -le 100 ] || exit 10
		sleep 0.1
	done
	# Let the request be handled before the host goes on.
	sleep 0.5
	touch /tmp/pidns.ready
	i=0
	until [ -e /tmp/pidns.hostdone ]; do
		i=$((i + 1))
		[ $i -le 100 ] || exit 11
		sleep 0.1
	done
	sh -c 'exit 3' &
	child=$!
	wait $child
	echo "child=$child" >/tmp/pidns.child
	wait $listener
	INNER
	unshare "$@" sh /tmp/pidns.inner &
	unshare=$!
	wait_until 10 "the listener in the pid namespace did not start" [ -e /tmp/pidns.ready ]
	sh -c 'exit 5' &
	hostproc=$!
	wait $hostproc
	touch /tmp/pidns.hostdone
	wait $unshare || fail "the pid namespace's script failed ($?): $(cat /tmp/pidns.inner.err)"
	wait
	inner=/tmp/pidns.inner.out
	grep -q '^pid=1$' /tmp/pidns.self || fail "the namespace's shell is not pid 1: $(cat /tmp/pidns.self)"
	child=$(sed -n 's/^child=//p' /tmp/pidns.child)
	[ -n "$child" ] && [ "$child" -gt 1 ] || fail "no namespace pid for the child"
	echo "---- host ----"
	cat /tmp/host.out
	host=/tmp/host.out
	grep -E -q "^proc [0-9.]+ exit pid=$hostproc tgid=$hostproc exit_code=1280 " $host ||
		fail "the host listener did not see the host process $hostproc"
	# The namespace's pid 1 as the host sees it: the child of unshare.
	init1=$(sed -n "s/^proc [0-9.]* fork parent_pid=$unshare parent_tgid=$unshare child_pid=\([0-9]*\) .*/\1/p" $host | head -n 1)
	[ -n "$init1" ] || fail "the host listener did not see unshare fork"
	hchild=$(sed -n "s/^proc [0-9.]* exit pid=\([0-9]*\) tgid=[0-9]* exit_code=768 exit_signal=17 parent_pid=$init1 parent_tgid=$init1 .*/\1/p" $host)
	[ -n "$hchild" ] && [ "$hchild" != "$child" ] || fail "the host listener did not see the child's exit with host pids"
	grep -E -q "^proc [0-9.]+ fork parent_pid=$init1 parent_tgid=$init1 child_pid=$hchild child_tgid=$hchild " $host ||
		fail "the host listener did not see the child's fork with host pids"
	echo "---- inside the pid namespace ----"
	cat $inner

	grep -q '^cn_proc ' /tmp/pidns.procnet ||
		fail "cn_proc is not in the namespace's /proc/net/connector: $(cat /tmp/pidns.procnet)"
	grep -E -q '^proc [0-9.]+ none err=0 ack=1 ' $inner || fail "the namespace's listener got no ack"
	grep -E -q "^proc [0-9.]+ fork parent_pid=1 parent_tgid=1 child_pid=$child child_tgid=$child " $inner ||
		fail "no fork of $child by pid 1 inside the namespace"
	grep -E -q "^proc [0-9.]+ exit pid=$child tgid=$child exit_code=768 exit_signal=17 parent_pid=1 parent_tgid=1 " $inner ||
		fail "no exit of $child inside the namespace"
	grep -q 'exit_code=1280' $inner && fail "the host's process is seen inside the namespace"
	awk -v top="$init1" -v me=$$ -v hl="$host_listener" '{
		for (i = 1; i <= NF; i++)
			if ($i ~ /pid=|tgid=/) {
				split($i, kv, "=")
				n = kv[2] + 0
				if (n >= top || n == me || n == hl) { print "host pid " n ": " $0; bad = 1 }
			}
	} END { exit bad }' $inner || fail "a host pid inside the namespace"
	seqs=$(sed -n 's/.* cpu=\([0-9]*\) seq=\([0-9]*\).*/\1.\2/p' $inner | tr '\n' ' ')
	expected=$(echo "$seqs" | awk '{ for (i = 0; i < NF; i++) printf "0.%d ", i }')
	[ -n "$seqs" ] && [ "$seqs" = "$expected" ] ||
		fail "the namespace's sequence numbers (cpu.seq) are not 0, 1, 2, ... on CPU 0: $seqs"
}

check_container -p -f --mount-proc
check_container -U -r -n -p -f --mount-proc
