# The notification protocol: a request for idx 14 and val 0x456..0x457 on group 5 gets a message
# for each of cn_test's ids when it loads (ack 0) and unloads (ack 1). Unprivileged requests get
# EPERM, malformed ones EINVAL, removal works.
# configs: rust cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
out=$(cnctl --as-uid 1000 notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=-1$" || fail "unprivileged request not refused with EPERM: $out"
out=$(cnctl raw --nl-ack --hex "$(nlmsg 52 4 "$(cnmsg 4294967295 4294967295 0 0 16 \
	"$(le32 1)$(le32 1)$(le32 5)$(le32 8)")")" 2>&1)
echo "$out" | grep -q "^nlack error=-22$" || fail "malformed request not refused with EINVAL: $out"

cnctl notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack --listen-ms 8000 >/tmp/notify.out 2>&1 &
listener=$!
sleep 2
load_peer
sleep 1
rmmod "$PEER_NAME" || fail "rmmod failed"
wait $listener
cat /tmp/notify.out
grep -q "^nlack error=0$" /tmp/notify.out || fail "request not acked"
for expected in "val=1110 seq=0 ack=0" "val=1111 seq=0 ack=0" "val=1110 seq=0 ack=1" "val=1111 seq=0 ack=1"; do
	grep -q "^recv idx=14 $expected len=0" /tmp/notify.out || fail "missing notification: $expected"
done
[ "$(grep -c '^recv' /tmp/notify.out)" = 4 ] || fail "expected exactly 4 notifications"

out=$(cnctl notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=-17$" || fail "duplicate request not refused with EEXIST: $out"
out=$(cnctl notify --remove --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=0$" || fail "removal failed: $out"
out=$(cnctl notify --remove --idx 14:1 --val 0x456:2 --nl-ack 2>&1)
echo "$out" | grep -q "^nlack error=-2$" || fail "second removal not refused with ENOENT: $out"
