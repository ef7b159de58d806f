# Our core does not load while the in-tree cn.ko holds the connector (and its exports).
. /tests/lib.sh
insmod /modules/cn.ko || fail "cannot load cn.ko"
insmod "$CORE" && fail "$CORE_NAME loaded next to cn.ko"
expect_dmesg "$CORE_NAME: .*(duplicate symbol|already in use)"
rmmod cn || fail "cannot unload cn.ko"
load_core
grep -q "^Name" /proc/net/connector || fail "no /proc/net/connector after loading"
