# A message to an id nobody registered is dropped; the next good message still arrives.
# Ours also answers NLM_F_ACK with -ENODEV there, and 0 for a delivered message.
# configs: rust c cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
load_peer
cnctl send --idx $CN_IDX --val 0x999 --seq 500 --data lost --nul || fail "send failed"
send_good 501
expect_delivered 501
expect_no_dmesg "seq=500,"
if [ "$CONFIG" != c ]; then
	out=$(cnctl send --idx $CN_IDX --val 0x999 --seq 502 --nl-ack) || fail "no ack: $out"
	echo "$out" | grep -q "^nlack error=-19$" || fail "expected -ENODEV, got: $out"
	out=$(cnctl send --idx $CN_IDX --val $CN_VAL --seq 503 --data ok --nul --nl-ack) ||
		fail "no ack: $out"
	echo "$out" | grep -q "^nlack error=0$" || fail "expected ack 0, got: $out"
	expect_delivered 503
fi
