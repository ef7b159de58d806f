# Adversarial: one datagram must not make the process events connector broadcast more than one
# acknowledgement. uid 1000 sends ONE datagram of 1000 LISTEN requests (struct proc_input, ack
# 41) to {1, 1}; a root listener (every event, so it gets acknowledgements) must see at most one
# PROC_EVENT_NONE with ack 42, and still get the events of a child after it.
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
# The child's events come after every acknowledgement of the datagram.
child_events $out "after the datagram"
kill $listener
wait $listener
grep -i "warning" $out.err | head -n 3
acks=$(grep -E -c "^proc [0-9.]+ none err=[0-9]+ ack=42 " $out)
echo "acknowledgements of the datagram at the root listener: $acks"
[ "$acks" -le 1 ] || fail "one datagram of 1000 LISTEN produced $acks acknowledgements at the listener (at most 1)"
echo "took $(elapsed) s"
