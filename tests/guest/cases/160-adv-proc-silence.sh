# Adversarial: an unprivileged socket must not switch off the events of other listeners. A root
# listener gets the events of a child; then uid 1000 sends ONE datagram of 50 pairs {operation 7
# (neither LISTEN nor IGNORE), IGNORE} to {1, 1}, as struct proc_input and then as the bare
# 4-byte operations of older kernels: under the C counting rules each pair counted a listener off
# although that socket never listened. The root listener must still get the fork, exec and exit
# of the next child (the count is per socket: an IGNORE only takes back that socket's own
# LISTEN).
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
load_proc
out=/tmp/root.out
start_proc_listener $out
child_events $out "before the hostile datagrams"
# proc_msg's second argument: an event mask (struct proc_input), or - for the bare operation.
for form in 0 -; do
	what=$([ "$form" = - ] && echo "4-byte ops" || echo "proc_input")
	dgram=$(repeat 50 "$(proc_msg 7 "$form")$(proc_msg $PROC_IGNORE "$form")")
	cnctl --as-uid 1000 raw --hex "$dgram" || fail "the unprivileged datagram was not sent"
	echo "sent 50 x {op 7, IGNORE} ($what) as uid 1000 in one datagram"
	child_events $out "after 50 x {op 7, IGNORE} ($what) from uid 1000"
done
kill $listener
wait $listener
echo "took $(elapsed) s"
