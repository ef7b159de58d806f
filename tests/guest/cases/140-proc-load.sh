# Loading fails cleanly: without the connector core (unresolved symbols), and when a tracepoint it
# needs is missing (require_coredump=1 on a kernel without CONFIG_COREDUMP): an error, nothing
# registered, nothing leaked (kmemleak). Loaded for real it lists itself in /proc/net/connector.
. /tests/lib.sh
insmod /modules/cn_proc_example.ko 2>/dev/null && fail "loaded without the connector core"
load_core
grep -q " 1:1$" /proc/net/connector && fail "{1, 1} registered before loading"
mark_dmesg
if insmod /modules/cn_proc_example.ko require_coredump=1; then
	echo "this kernel has the coredump tracepoint: nothing to refuse"
	rmmod cn_proc_example || fail "rmmod failed"
else
	expect_dmesg "cn_proc_example: tracepoint coredump not found"
	is_loaded cn_proc_example && fail "still loaded after a failed load"
	grep -q " 1:1$" /proc/net/connector && fail "{1, 1} still registered after the failed load"
fi
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
cat /proc/net/connector
grep -qx "cn_proc         1:1" /proc/net/connector || fail "cn_proc 1:1 not listed"
expect_dmesg "cn_proc_example: process events connector ready"
rmmod connector 2>/dev/null && fail "the core unloaded under cn_proc_example"
rmmod cn_proc_example || fail "rmmod failed"
grep -q " 1:1$" /proc/net/connector && fail "{1, 1} still registered after rmmod"
true
