# Adversarial: a C user of the connector that keeps per-socket state in sk_user_data the way
# cn_proc.c does (cn_userdata.ko, {15, 1}: kzalloc()s 8 bytes into sk_user_data of the first
# socket that writes to it, and updates them on every message) shares a socket with the process
# events connector. ONE socket (cnraw) joins group 1 and sends ONE datagram: a message to {15, 1},
# a LISTEN for FORK only to {1, 1}, a second message to {15, 1}. Then:
#  - no KASAN report or other splat (the core must not take the C module's 8 bytes for its own
#    state);
#  - the C module finds its state again (`messages=2`);
#  - the socket gets the fork event of a child, and not its exec or exit (filtered);
#  - after the socket closed (a member of group 1, so the C connector's release rule frees the
#    8 bytes), kmemleak finds no leak, and nothing is freed twice.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
km=/sys/kernel/debug/kmemleak
[ -w $km ] || skip "no kmemleak"
load_proc
insmod /modules/cn_userdata.ko || fail "insmod cn_userdata.ko failed"
echo clear >$km
FORK=1
to_c() { nlmsg 40 0 "$(cnmsg 15 1 "$1" 0 4 "$(le32 1234)")"; }
dgram="$(to_c 701)$(proc_msg $PROC_LISTEN $FORK)$(to_c 702)"
cnraw -g 1 -x "$dgram" -t 5000 >/tmp/one.out 2>/tmp/one.err &
sock=$!
wait_for /tmp/one.err "^sent len=" 10 "the socket did not send"
expect_dmesg "cn_userdata: seq=701 messages=1 new state" 10
expect_dmesg "cn_userdata: seq=702 messages=2$" 10
sh -c 'exit 3' &
child=$!
wait $child
wait_for /tmp/one.out "what=0x00000001 child_pid=$child$" 10 "no fork event of child $child on the shared socket"
wait $sock
cat /tmp/one.out
grep -E "what=0x(00000002|80000000) pid=$child$" /tmp/one.out &&
	fail "the FORK-only socket got another event of child $child (not filtered)"
expect_no_dmesg "KASAN|BUG|WARNING|general protection"
# kmemleak reports only objects older than 5 s, from the second scan that finds them unchanged.
sleep 6
echo scan >$km
echo scan >$km
report=$(cat $km)
[ -z "$report" ] || fail "kmemleak found leaks: $(echo "$report" | head -n 20)"
rmmod cn_userdata || fail "rmmod cn_userdata failed"
expect_no_dmesg "KASAN|BUG|WARNING|general protection"
echo "took $(elapsed) s"
