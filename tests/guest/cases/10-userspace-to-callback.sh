# A message from userspace reaches the callback registered for its id, with seq, ack and data.
# configs: rust c cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
load_peer
cnctl send --idx $CN_IDX --val $CN_VAL --seq 42 --ack 7 --data "hello connector" --nul ||
	fail "send failed"
expect_dmesg "cn_test_callback: ([0-9]+: )?idx=e, val=456, seq=42, ack=7, len=16: hello connector\."
cnctl send --idx $CN_IDX --val $CN_TIMER_VAL --seq 43 --data second --nul || fail "send failed"
expect_dmesg "cn_test_callback: ([0-9]+: )?idx=e, val=457, seq=43, ack=0, len=7: second\."
