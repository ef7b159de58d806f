# Malformed datagrams are dropped without harm; a good message sent after each still arrives.
# Malformed messages carry seq 9000+, which must never reach the callback.
# configs: rust c cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
load_quiet_peer

good() { cnmsg $CN_IDX $CN_VAL "$1" 0 5 676f6f6400; }   # "good\0"
GOOD_LEN=41                                             # 16 + 20 + 5
max_data=$((16384 - 20))
seq=100
n=0
# case NAME HEX: sends HEX raw, then a good message that must arrive.
case_() {
	n=$((n + 1))
	seq=$((seq + 1))
	echo "malformed $n: $1"
	cnctl raw --hex "$2" >/dev/null 2>&1 || echo "  (the kernel refused the datagram itself)"
	send_good $seq
	expect_delivered $seq
}
case_ "truncated netlink header" "$(le32 36)0300"
case_ "netlink header only" "$(nlmsg 16 0 "")"
case_ "nlmsg_len zero" "$(nlmsg 0 0 "$(good 9001)")"
case_ "nlmsg_len 8, shorter than a header" "$(nlmsg 8 0 "$(good 9002)")"
case_ "nlmsg_len 15" "$(nlmsg 15 0 "$(good 9003)")"
case_ "payload shorter than cn_msg" "$(nlmsg 35 0 "$(good 9004 | cut -c1-38)")"
case_ "nlmsg_len longer than the datagram" "$(nlmsg $((GOOD_LEN + 4)) 0 "$(good 9005)")"
case_ "nlmsg_len 0xffffffff" "$(nlmsg 4294967295 0 "$(good 9006)")"
case_ "nlmsg_len lies short of the data" "$(nlmsg $((GOOD_LEN - 2)) 0 "$(good 9007)")"
case_ "cn_msg len larger than the data" "$(nlmsg 40 0 "$(cnmsg $CN_IDX $CN_VAL 9008 0 100 41424344)")"
case_ "cn_msg len 0xffff" "$(nlmsg 40 0 "$(cnmsg $CN_IDX $CN_VAL 9009 0 65535 41424344)")"
case_ "cn_msg len 1, no data" "$(nlmsg 36 0 "$(cnmsg $CN_IDX $CN_VAL 9010 0 1 "")")"
case_ "one byte after the header" "$(nlmsg 17 0 00)"
case_ "all ones" "$(printf 'ff%.0s' $(seq 64))"
case_ "oversize: one byte over the maximum" \
	"$(nlmsg $((16 + 16385)) 0 "$(cnmsg $CN_IDX $CN_VAL 9011 0 $((max_data + 1)) "$(zeros $((max_data + 1)))")")"
case_ "oversize: cn_msg len within, payload over" \
	"$(nlmsg $((16 + 16388)) 0 "$(cnmsg $CN_IDX $CN_VAL 9012 0 4 "$(zeros $((max_data + 4)))")")"
case_ "zero-length datagram" ""
case_ "second header truncated" "$(nlmsg $GOOD_LEN 0 "$(good 8001)")000000$(le32 0)"
case_ "malformed first, good second" \
	"$(nlmsg 35 0 "$(good 9013 | cut -c1-38)")00$(nlmsg $GOOD_LEN 0 "$(good 8002)")"
case_ "nlmsg_len 16 + 19, then garbage" "$(nlmsg 35 0 "$(zeros 40)")"
case_ "unknown id with bad length" "$(nlmsg 40 0 "$(cnmsg 77 77 9014 0 9 41424344)")"
case_ "truncated cn_msg header in the middle" "$(nlmsg 26 0 "$(zeros 10)")0000$(nlmsg 16 0 "")"

# Exactly the maximum is a valid message and is delivered.
seq=$((seq + 1))
cnctl raw --hex "$(nlmsg $((16 + 16384)) 0 "$(cnmsg $CN_IDX $CN_VAL $seq 0 $max_data "$(zeros $max_data)")")" ||
	fail "cannot send the maximum message"
expect_dmesg "$(delivered_re $seq) ack=0, len=$max_data:"
echo "$n malformed datagrams, each followed by a delivered message; the maximum delivered"
[ $n -ge 20 ] || fail "only $n malformed cases"
expect_not_delivered "90[0-9][0-9]"
