# /proc/net/connector lists callbacks in the C format, after add and after delete.
# configs: rust c cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
[ "$(head -n 1 /proc/net/connector)" = "Name            ID" ] || fail "bad header: $(head -n 1 /proc/net/connector)"
grep -q "14:111[01]" /proc/net/connector && fail "cn_test listed before it is loaded"
load_peer
cat /proc/net/connector
grep -qx "cn_test         14:1110" /proc/net/connector || fail "14:1110 not listed"
grep -qx "cn_test         14:1111" /proc/net/connector || fail "14:1111 not listed"
rmmod "$PEER_NAME" || fail "rmmod $PEER_NAME failed"
cat /proc/net/connector
grep -q "14:111[01]" /proc/net/connector && fail "cn_test still listed after rmmod"
[ "$(head -n 1 /proc/net/connector)" = "Name            ID" ] || fail "header lost"
