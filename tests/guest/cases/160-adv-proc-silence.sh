# Adversarial: an unprivileged socket must not switch off the events of other listeners. A root
# listener gets the events of a child; then uid 1000 sends ONE datagram of 50 pairs {operation 7
# (neither LISTEN nor IGNORE), IGNORE} as struct proc_input to {1, 1}: each pair counted a
# listener off although that socket never listened. The root listener must still get the fork,
# exec and exit of the next child (the count is per socket: an IGNORE only takes back that
# socket's own LISTEN).
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
load_proc
out=/tmp/root.out
start_proc_listener $out
child_events $out "before the hostile datagram"
dgram=$(repeat 50 "$(proc_msg 7 0)$(proc_msg $PROC_IGNORE 0)")
cnctl --as-uid 1000 raw --hex "$dgram" || fail "the unprivileged datagram was not sent"
echo "sent 50 x {op 7, IGNORE} (proc_input) as uid 1000 in one datagram"
child_events $out "after 50 x {op 7, IGNORE} from uid 1000"
kill $listener
wait $listener
echo "took $(elapsed) s"
