# Unregistering waits for running callbacks: rmmod of cn_test while its callback sleeps returns
# only after the callback is done (the C connector would free the module under the callback).
. /tests/lib.sh
. /tests/cn.sh
load_core
load_peer interval_ms=0 delay_ms=1500
cnctl send --idx $CN_IDX --val $CN_VAL --seq 801 --data slow --nul &
sender=$!
expect_delivered 801
rmmod "$PEER_NAME" || fail "rmmod failed"
wait $sender
log=$(dmesg_since_mark)
done_line=$(echo "$log" | grep -n "cn_test_callback: done seq=801" | cut -d: -f1)
unloaded_line=$(echo "$log" | grep -n "cn_test: unloaded" | cut -d: -f1)
[ -n "$done_line" ] || fail "callback did not finish"
[ -n "$unloaded_line" ] || fail "no unload message"
[ "$done_line" -lt "$unloaded_line" ] || fail "module unloaded before its callback finished"
