# Adversarial: one datagram must not buy unbounded work. ONE datagram from uid 1000 with 100
# good messages to cn_test's {14, 0x456} (seq 1..100), each asking for a netlink ack: the first
# 64 are handled (delivered, acked 0), the other 36 are dropped, each acked EMSGSIZE (-90).
# configs: rust cpeer
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
load_core
load_quiet_peer
dgram=$(good_msgs 1 100 4)
cnraw -u 1000 -x "$dgram" -t 3000 >/tmp/acks.out 2>/tmp/acks.err || fail "cnraw failed: $(cat /tmp/acks.err)"
expect_delivered 64
ok=$(grep -c "^nlack error=0$" /tmp/acks.out)
big=$(grep -c "^nlack error=-90$" /tmp/acks.out)
echo "acks: $ok x 0, $big x -90 (EMSGSIZE), $(grep -c . /tmp/acks.out) lines in all"
dmesg_since_mark | grep -E -c "$(delivered_re "[0-9]+")" | sed 's/^/messages delivered: /'
[ "$ok" = 64 ] && [ "$big" = 36 ] || fail "expected 64 acks 0 and 36 acks EMSGSIZE, got $ok and $big"
expect_not_delivered 65
expect_not_delivered 100
echo "took $(elapsed) s"
