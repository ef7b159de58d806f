# NLM_F_ACK gets 0 for a delivered message, -ENODEV for an unknown id, -EINVAL for a malformed one.
. /tests/lib.sh
. /tests/cn.sh
load_core
load_peer interval_ms=0
ack_of() { cnctl raw --nl-ack --hex "$1" | sed -n 's/^nlack error=//p'; }
[ "$(ack_of "$(nlmsg 41 4 "$(cnmsg $CN_IDX $CN_VAL 701 0 5 676f6f6400)")")" = 0 ] || fail "no ack 0"
expect_delivered 701
[ "$(ack_of "$(nlmsg 41 4 "$(cnmsg 99 99 702 0 5 676f6f6400)")")" = -19 ] || fail "no -ENODEV"
[ "$(ack_of "$(nlmsg 40 4 "$(cnmsg $CN_IDX $CN_VAL 703 0 9 41424344)")")" = -22 ] || fail "no -EINVAL (len)"
[ "$(ack_of "$(nlmsg 35 4 "$(zeros 19)")")" = -22 ] || fail "no -EINVAL (short payload)"
expect_not_delivered 703
