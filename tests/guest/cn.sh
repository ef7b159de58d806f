# Connector helpers for the guest cases (busybox sh), sourced after lib.sh.
#
#   send_good SEQ            send "good" to cn_test's {14, 0x456} with sequence number SEQ
#   expect_delivered SEQ     wait for cn_test's log line of the message with sequence SEQ
#   expect_not_delivered SEQ fail if cn_test logged a message with sequence SEQ
#   le16 N / le32 N          N as little-endian hex
#   nlmsg LEN FLAGS HEX      a netlink header (type NLMSG_DONE) with nlmsg_len LEN, then HEX
#   cnmsg IDX VAL SEQ ACK LEN HEX   a cn_msg header with data length LEN, then HEX
#   zeros N                  N zero bytes as hex
#   load_quiet_peer          the peer, without timer broadcasts if it is ours

CN_IDX=14          # CN_NETLINK_USERS + 3
CN_VAL=1110        # 0x456
CN_TIMER_VAL=1111  # 0x457

le16() { printf '%02x%02x' $(($1 & 255)) $((($1 >> 8) & 255)); }
le32() { printf '%s%s' "$(le16 $(($1 & 65535)))" "$(le16 $((($1 >> 16) & 65535)))"; }
nlmsg() { printf '%s0300%s%s%s%s' "$(le32 "$1")" "$(le16 "$2")" "$(le32 0)" "$(le32 0)" "$3"; }
cnmsg() { printf '%s%s%s%s%s0000%s' "$(le32 "$1")" "$(le32 "$2")" "$(le32 "$3")" "$(le32 "$4")" "$(le16 "$5")" "$6"; }
zeros() { head -c "$1" /dev/zero | od -An -v -tx1 | tr -d ' \n'; }

send_good() {
	cnctl send --idx $CN_IDX --val $CN_VAL --seq "$1" --data good --nul >/dev/null 2>&1 ||
		fail "cannot send message seq=$1"
}

# The C sample logs "cn_test_callback: <jiffies>: idx=e, ...", ours "cn_test_callback: idx=e, ...".
delivered_re() { echo "cn_test_callback: ([0-9]+: )?idx=e, val=456, seq=$1,"; }

expect_delivered() { expect_dmesg "$(delivered_re "$1")" "${2:-10}"; }

expect_not_delivered() { expect_no_dmesg "$(delivered_re "$1")"; }

# load_quiet_peer: the peer without its timer broadcasts where it has the parameter (ours).
load_quiet_peer() {
	if [ "$PEER_NAME" = cn_test ]; then load_peer interval_ms=0 "$@"; else load_peer "$@"; fi
}
