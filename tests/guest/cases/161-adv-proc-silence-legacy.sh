# Adversarial: as 160, with the bare 4-byte operations of older kernels: one datagram from uid
# 1000 with 50 pairs {7, IGNORE} to {1, 1} must not stop the events of a root listener.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
load_proc
out=/tmp/root.out
start_proc_listener $out
child_events $out "before the hostile datagram"
dgram=$(repeat 50 "$(proc_msg 7 -)$(proc_msg $PROC_IGNORE -)")
cnctl --as-uid 1000 raw --hex "$dgram" || fail "the unprivileged datagram was not sent"
echo "sent 50 x {op 7, IGNORE} (4-byte ops) as uid 1000 in one datagram"
child_events $out "after 50 x {op 7, IGNORE} from uid 1000"
kill $listener
wait $listener
echo "took $(elapsed) s"
