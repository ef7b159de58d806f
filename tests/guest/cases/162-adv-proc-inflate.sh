# Adversarial: an unprivileged socket must not count as more than one listener, nor stay
# counted after its IGNORE or its close; and a socket that joined group 1 without a LISTEN (a
# passive member) gets no process events at all, not even while somebody listens (C gives it
# every event, with host pids: from a container, a leak of the host's processes).
#
# A count left above zero with nobody listening makes every event be built and broadcast to
# nobody, which no socket sees; but it takes a sequence number. So while nobody listens, 10
# children run on CPU 0 (the case is pinned there) and CPU 0's sequence number must not move:
# a root listener started before and one after read it from their acknowledgements (answered on
# CPU 0, where they send), and each stops with an IGNORE, so that nothing of its own is built
# after its acknowledgement.
#  1. uid 1000 sends ONE datagram of 31 pairs {operation 7, LISTEN} and a final IGNORE (63
#     messages) from a socket that stays open: no event is built while the children run (C's
#     count: 30).
#  2. after that socket closed (killed): still none.
#  3. while a root `cnctl proc` listens (and gets the child's events), the passive member gets
#     nothing.
#  4. after that listener is killed (SIGKILL: closed without IGNORE): no event is built again.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
on_one_cpu
load_proc

# cpu0_seq: sets $seq to CPU 0's sequence number as a new root listener finds it (that of its
# acknowledgement), the listener gone after 300 ms with an IGNORE.
cpu0_seq() {
	cnctl proc --timeout-ms 300 >/tmp/seq.out 2>/tmp/seq.err
	seq=$(sed -n 's/^proc [0-9.]* none err=0 ack=1 cpu=0 seq=\([0-9]*\)$/\1/p' /tmp/seq.out)
	case "$seq" in
	'' | *[!0-9]*)
		cat /tmp/seq.out /tmp/seq.err
		fail "a root listener got no single acknowledgement on CPU 0"
		;;
	esac
}

# nothing_built WHY: while nobody listens, 10 children on CPU 0 must not make any event be
# built (WHY: since when nobody listens). The listener that reads the number after gets the next
# one but for what kernel threads start on CPU 0 while the first listens (a few at most).
nothing_built() {
	cpu0_seq
	_before=$seq
	_i=0
	while [ $_i -lt 10 ]; do
		sh -c 'exit 3'
		_i=$((_i + 1))
	done
	cpu0_seq
	_built=$((seq - _before - 1))
	echo "$1: seq of CPU 0 $_before -> $seq around 10 children (30 events)"
	[ $_built -le 4 ] || fail "$_built process events built while nobody listens ($1)"
}

# passive_events WHY: sets $n to the number of process events a passive member of group 1 gets
# while a child runs (and $child).
passive_events() {
	rm -f /tmp/passive.out /tmp/passive.err
	cnctl listen --group 1 --timeout-ms 100000 >/tmp/passive.out 2>/tmp/passive.err &
	_passive=$!
	wait_for /tmp/passive.err "^listening group=1" 10 "the passive member did not join group 1"
	sh -c 'exit 3' &
	child=$!
	wait $child
	# The events of the child are queued before `wait` returns (the probes send synchronously);
	# give the passive member time to print them.
	sleep 1
	kill $_passive
	wait $_passive
	echo "passive member, $1:"
	cat /tmp/passive.out
	n=$(grep -c "^recv idx=1 val=1 " /tmp/passive.out)
}

dgram="$(repeat 31 "$(proc_msg 7 0)$(proc_msg $PROC_LISTEN 0)")$(proc_msg $PROC_IGNORE 0)"
cnraw -u 1000 -x "$dgram" -t 60000 >/tmp/inflate.out 2>/tmp/inflate.err &
inflator=$!
wait_for /tmp/inflate.err "^sent len=" 10 "the inflating socket did not send"
echo "uid 1000 sent 31 x {op 7, LISTEN} + IGNORE in one datagram, socket kept open"
nothing_built "the inflating socket open after its IGNORE"
kill -0 $inflator 2>/dev/null || fail "the inflating socket closed before the end of step 1"
kill -KILL $inflator
wait $inflator
nothing_built "the inflating socket closed"

start_proc_listener /tmp/root.out
passive_events "a root listener running"
[ "$n" = 0 ] || fail "the passive member (no LISTEN) got $n process events while a root listener listens"
wait_for /tmp/root.out " exit pid=$child tgid=$child exit_code=768 " 10 "the root listener did not get the exit of $child"
# SIGKILL: `cnctl` would send an IGNORE on SIGTERM.
kill -KILL $listener
wait $listener
nothing_built "the root listener killed (closed without IGNORE)"
echo "took $(elapsed) s"
