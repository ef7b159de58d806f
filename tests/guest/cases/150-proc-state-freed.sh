# The per-socket state that LISTEN attaches is freed when the socket closes, even if the socket
# never joined the process events group (the C connector frees it only for group members, and
# leaks it otherwise). kmemleak must find nothing after 20 such sockets.
. /tests/lib.sh
km=/sys/kernel/debug/kmemleak
[ -w $km ] || skip "no kmemleak"
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
echo clear >$km
i=0
while [ $i -lt 20 ]; do
	# A socket that sends PROC_CN_MCAST_LISTEN without joining group 1, then closes.
	cnctl send --idx 1 --val 1 --hex 01000000 >/dev/null 2>&1 || fail "LISTEN $i failed"
	i=$((i + 1))
done
cnctl send --idx 1 --val 1 --hex 02000000 >/dev/null 2>&1 || fail "IGNORE failed"
# kmemleak reports only objects older than 5 s, and only from the second scan that finds them
# unchanged.
sleep 6
echo scan >$km
echo scan >$km
report=$(cat $km)
[ -z "$report" ] || fail "kmemleak found leaks: $(echo "$report" | head -n 20)"
