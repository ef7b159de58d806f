# Adversarial: one datagram must not make the process events connector broadcast more than one
# acknowledgement. uid 1000 sends ONE datagram of 1000 LISTEN requests (struct proc_input, ack
# 41) to {1, 1}; a root listener (every event, so it gets acknowledgements) must see at most one
# PROC_EVENT_NONE with ack 42 (counted once it has drained its socket), and still get the events
# of a child after it.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
load_proc
out=/tmp/root.out
start_proc_listener $out
dgram=$(repeat 1000 "$(proc_msg $PROC_LISTEN 0 41)")
cnctl --as-uid 1000 raw --hex "$dgram" || fail "the unprivileged datagram was not sent"
echo "sent 1000 x LISTEN (ack 41) as uid 1000 in one datagram ($((${#dgram} / 2)) bytes)"
# Let the listener drain its socket: until the count of acknowledgements stays the same for 1 s.
acks() { grep -E -c "^proc [0-9.]+ none err=[0-9]+ ack=42 " $out; }
prev=-1
end=$(($(date +%s) + 30))
while [ "$(acks)" != "$prev" ] && [ "$(date +%s)" -lt $end ]; do
	prev=$(acks)
	sleep 1
done
n=$(acks)
grep -i "warning" $out.err | head -n 3
echo "acknowledgements of the datagram at the root listener: $n"
[ "$n" -le 1 ] || fail "one datagram of 1000 LISTEN produced $n acknowledgements at the listener (at most 1)"
# The listener still gets events.
child_events $out "after the datagram"
kill $listener
wait $listener
echo "took $(elapsed) s"
