# Adversarial: a sender that never reads must not be able to make an unload hang. With
# `cn_test reply=1`, uid 1000 floods {14, 0x456} with `cnctl flood` (which never reads its
# socket), so the replies fill its receive buffer (its Rmem in /proc/net/netlink stops growing).
# Then `rmmod cn_test` must complete within 10 s: a reply must never wait
# for room in a receiver (it is dropped instead), least of all inside the sender's own sendmsg(),
# where the callback runs. Afterwards a reply still reaches a sender that reads.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
load_core
load_peer interval_ms=0 reply=1
cnctl --as-uid 1000 flood --idx $CN_IDX --val $CN_VAL --count 100000000 --data x \
	>/tmp/flood.out 2>&1 &
flood=$!
# rmem PID: the receive queue (bytes) of the connector socket bound to port PID, or 0.
rmem() { awk -v p="$1" '$2 == 11 && $3 == p { r = $5 } END { print r + 0 }' /proc/net/netlink; }
# The queue is full when it holds more than 64 KiB and stays the same for two seconds (replies
# then block the sender, or are dropped); the test kernel has no /proc/sys to read the size from.
prev=0
prev2=0
end=$(($(date +%s) + 60))
while :; do
	sleep 1
	now=$(rmem $flood)
	[ "$now" -gt 65536 ] && [ "$now" = "$prev" ] && [ "$now" = "$prev2" ] && break
	prev2=$prev
	prev=$now
	kill -0 $flood 2>/dev/null || fail "the flooder ended: $(cat /tmp/flood.out)"
	[ "$(date +%s)" -lt $end ] || fail "the flooder's receive queue did not fill within 60 s: $now bytes"
done
echo "flooder's receive queue full: $now bytes, after $(elapsed) s; flooder state" \
	"$(cut -d' ' -f3 /proc/$flood/stat), wchan $(cat /proc/$flood/wchan 2>/dev/null)"
start=$(date +%s)
rmmod "$PEER_NAME" &
rm_pid=$!
while kill -0 $rm_pid 2>/dev/null && [ $(($(date +%s) - start)) -lt 10 ]; do
	sleep 0.2
done
if kill -0 $rm_pid 2>/dev/null; then
	echo "rmmod still running after 10 s: state $(cut -d' ' -f3 /proc/$rm_pid/stat)," \
		"wchan $(cat /proc/$rm_pid/wchan 2>/dev/null); flooder: state" \
		"$(cut -d' ' -f3 /proc/$flood/stat), wchan $(cat /proc/$flood/wchan 2>/dev/null)"
	kill -KILL $flood
	wait $rm_pid
	fail "rmmod $PEER_NAME did not complete within 10 s while a non-reading sender's receive queue was full (only once the sender was killed, after $(($(date +%s) - start)) s)"
fi
wait $rm_pid || fail "rmmod $PEER_NAME failed"
echo "rmmod completed in $(($(date +%s) - start)) s"
kill -KILL $flood
wait $flood
is_loaded "$PEER_NAME" && fail "$PEER_NAME still loaded"
# Replies are not dropped for a sender that reads.
load_peer interval_ms=0 reply=1
cnctl send --idx $CN_IDX --val $CN_VAL --seq 901 --data good --nul --reply-timeout-ms 5000 \
	>/tmp/reply.out 2>&1 || fail "no reply to a reading sender: $(cat /tmp/reply.out)"
grep -q "^recv idx=14 val=1110 seq=901 ack=1 " /tmp/reply.out || fail "wrong reply: $(cat /tmp/reply.out)"
echo "took $(elapsed) s"
