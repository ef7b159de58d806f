# The peer's timer broadcasts "counter = N" to group 14, routed by the id it registered.
# configs: rust c cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
load_peer
out=$(cnctl listen --group $CN_IDX --count 2 --timeout-ms 10000) || fail "no broadcast: $out"
echo "$out"
echo "$out" | grep -q "^recv idx=14 val=1111 seq=[0-9]* ack=0 len=[0-9]* flags=0 data=\"counter = [0-9]*\"" ||
	fail "unexpected broadcast"
first=$(echo "$out" | sed -n '1s/.*seq=\([0-9]*\).*/\1/p')
second=$(echo "$out" | sed -n '2s/.*seq=\([0-9]*\).*/\1/p')
[ "$second" = $((first + 1)) ] || fail "counter did not advance by one: $first then $second"
echo "$out" | grep -q "seq=$first .*data=\"counter = $first\"" || fail "seq and counter differ"
