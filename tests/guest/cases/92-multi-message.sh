# Every netlink message of a datagram is handled (the C connector handles only the first),
# and each one that asks for it gets its own ack.
. /tests/lib.sh
. /tests/cn.sh
load_core
load_peer interval_ms=0
good() { cnmsg $CN_IDX $CN_VAL "$1" 0 5 676f6f6400; }
pad=000000
dgram="$(nlmsg 41 4 "$(good 601)")$pad$(nlmsg 41 4 "$(good 602)")$pad$(nlmsg 41 4 "$(good 603)")"
out=$(cnctl raw --hex "$dgram" --nl-ack) || fail "no ack"
expect_delivered 601
expect_delivered 602
expect_delivered 603
# A malformed message in the middle is refused (EINVAL) without stopping the others.
dgram="$(nlmsg 41 4 "$(good 611)")$pad$(nlmsg 40 4 "$(cnmsg $CN_IDX $CN_VAL 612 0 9 41424344)")$(nlmsg 41 4 "$(good 613)")"
cnctl raw --hex "$dgram" >/dev/null || fail "send failed"
expect_delivered 611
expect_delivered 613
expect_not_delivered 612
