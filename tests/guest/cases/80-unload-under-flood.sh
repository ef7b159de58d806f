# rmmod of the peer while a sender floods its id, then reload: no crash, messages arrive again.
# (Not run against the C core: its cn_del_callback does not wait for running callbacks.)
# configs: rust cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
load_quiet_peer
cnctl flood --idx $CN_IDX --val $CN_VAL --count 3000 --data flood >/tmp/flood.out 2>&1 &
flood=$!
sleep 1
rmmod "$PEER_NAME" || fail "rmmod under flood failed"
wait $flood
cat /tmp/flood.out
grep -q "^flood sent=3000 " /tmp/flood.out || fail "flood did not complete"
load_peer
mark_dmesg
send_good 77
expect_delivered 77
