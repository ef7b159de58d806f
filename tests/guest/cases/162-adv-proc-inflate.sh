# Adversarial: an unprivileged socket must not count as more than one listener, nor stay
# counted after its IGNORE or its close; and a socket that joined group 1 without a LISTEN (a
# passive member) gets no process events at all, not even while somebody listens (C gives it
# every event, with host pids: from a container, a leak of the host's processes). The counting
# itself is checked by the KUnit suite cn_proc and cases 160 and 205; here what leaks to the
# passive member.
#  1. uid 1000 sends ONE datagram of 31 pairs {operation 7, LISTEN} and a final IGNORE (63
#     messages) from a socket that stays open: it listens no more, so a passive member of group 1
#     gets no event of a child.
#  2. after that socket closed: still nothing.
#  3. while a root `cnctl proc` listens (and gets the child's events), the passive member still
#     gets nothing.
#  4. after that listener is killed (closed without IGNORE): nothing again.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
load_proc

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
cnraw -u 1000 -x "$dgram" -t 8000 >/tmp/inflate.out 2>/tmp/inflate.err &
inflator=$!
wait_for /tmp/inflate.err "^sent len=" 10 "the inflating socket did not send"
echo "uid 1000 sent 31 x {op 7, LISTEN} + IGNORE in one datagram, socket kept open"
passive_events "the inflating socket open after its IGNORE"
[ "$n" = 0 ] || fail "$n process events sent while nobody listens (uid 1000 sent 31 x {7, LISTEN} + IGNORE; its socket is still open)"
wait $inflator
passive_events "the inflating socket closed"
[ "$n" = 0 ] || fail "$n process events sent while nobody listens (after the inflating socket closed)"

start_proc_listener /tmp/root.out
passive_events "a root listener running"
[ "$n" = 0 ] || fail "the passive member (no LISTEN) got $n process events while a root listener listens"
wait_for /tmp/root.out " exit pid=$child tgid=$child exit_code=768 " 10 "the root listener did not get the exit of $child"
kill $listener
wait $listener
passive_events "the root listener killed (closed without IGNORE)"
[ "$n" = 0 ] || fail "$n process events sent after the only listener closed"
echo "took $(elapsed) s"
