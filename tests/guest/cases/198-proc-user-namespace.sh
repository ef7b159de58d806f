# Process events in a user namespace: a listener started inside `unshare -U -r` (root mapped to
# root, no other id mapped; the initial pid namespace) gets its request acknowledged and sees a
# host process change its uid and gid to 1000 with the same pids as the host does, but with the
# ids as its user namespace sees them: unmapped, the overflow id 65534. A host listener at the
# same time sees 1000.
# Then one socket in two views: a socket that listens from the host, then LISTENs again from a
# new user namespace (its process moved there, as one with the descriptor would be), is
# acknowledged both times and sees a later change to uid 1000 as 65534: its view is the second.
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
. /tests/proc.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
rm -f /tmp/userns.*

proc_listen host 10000
proc_requested host
unshare -U -r sh -c 'id -u >/tmp/userns.id; exec cnctl proc --timeout-ms 6000' \
	>/tmp/userns.out 2>/tmp/userns.err &
inner=$!
proc_requested userns
sleep 0.5
out=$(proctrigger ids 1000 1000) || fail "proctrigger ids failed"
child=$(echo "$out" | sed -n 's/^child=\([0-9]*\) .*/\1/p')
[ -n "$child" ] || fail "proctrigger ids printed '$out'"
wait $inner || fail "the listener in the user namespace failed: $(cat /tmp/userns.err)"
wait
echo "---- inside the user namespace ----"
cat /tmp/userns.out
echo "---- host ----"
cat /tmp/host.out
grep -q '^0$' /tmp/userns.id || fail "not root in the user namespace"
in=/tmp/userns.out
grep -E -q '^proc [0-9.]+ none err=0 ack=1 ' $in || fail "the user namespace's listener got no ack"
grep -E -q " uid pid=$child tgid=$child ruid=65534 euid=65534 cpu=" $in ||
	fail "no uid event of $child with the overflow uid inside"
grep -E -q " gid pid=$child tgid=$child rgid=65534 egid=65534 cpu=" $in ||
	fail "no gid event of $child with the overflow gid inside"
grep -E -q " (uid|gid) pid=$child .*=1000 " $in && fail "host ids inside the user namespace"
grep -E -q " uid pid=$child tgid=$child ruid=1000 euid=1000 cpu=" /tmp/host.out ||
	fail "the host listener did not see uid 1000"
grep -E -q " gid pid=$child tgid=$child rgid=1000 egid=1000 cpu=" /tmp/host.out ||
	fail "the host listener did not see gid 1000"

lst=$(proc_msg $PROC_LISTEN 0)
cnraw -g 1 -x "$lst" -n "$lst" -d 300 -t 5000 >/tmp/moved.out 2>/tmp/moved.err &
moved=$!
wait_for /tmp/moved.err "^sent2 len=" 10 "the moving socket did not send its second LISTEN"
sleep 0.5
out=$(proctrigger ids 1000 1000) || fail "proctrigger ids failed"
child=$(echo "$out" | sed -n 's/^child=\([0-9]*\) .*/\1/p')
[ -n "$child" ] || fail "proctrigger ids printed '$out'"
wait $moved || fail "the moving socket failed: $(cat /tmp/moved.err)"
echo "---- the socket that listens from the host, then from a new user namespace ----"
cat /tmp/moved.out
[ "$(grep -c " what=0x00000000 err=0$" /tmp/moved.out)" = 2 ] ||
	fail "the socket did not get both acknowledgements"
grep -q " what=0x00000004 pid=$child ruid=65534$" /tmp/moved.out ||
	fail "the socket did not see uid 1000 as 65534 after its LISTEN from the new namespace"
grep -q " what=0x00000004 pid=$child ruid=1000$" /tmp/moved.out &&
	fail "the socket still got the initial view's uid event"
echo "ok"
