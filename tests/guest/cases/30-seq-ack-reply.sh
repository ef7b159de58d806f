# With reply=1, cn_test answers as the protocol says: same id and seq, ack + 1, same data.
. /tests/lib.sh
. /tests/cn.sh
load_core
load_peer reply=1 interval_ms=0
out=$(cnctl send --idx $CN_IDX --val $CN_VAL --seq 1234 --ack 99 --data ping --nul \
	--reply-timeout-ms 5000) || fail "no reply: $out"
echo "$out"
echo "$out" | grep -q '^recv idx=14 val=1110 seq=1234 ack=100 len=5 flags=0 data="ping"$' ||
	fail "wrong reply"
