# Process events in a user namespace: a listener started inside `unshare -U -r` (root mapped to
# root, no other id mapped; the initial pid namespace) gets its request acknowledged and sees a
# host process change its uid and gid to 1000 with the same pids as the host does, but with the
# ids as its user namespace sees them: unmapped, the overflow id 65534. A host listener at the
# same time sees 1000.
. /tests/lib.sh
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
