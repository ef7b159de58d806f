# `make install` (scripts/install-modules into build/install, staged by scripts/initramfs as
# /modules/installed/lib/modules) writes the modules into extra/ and runs depmod. With that tree
# as /lib/modules and nothing loaded, the first NETLINK_CONNECTOR socket makes the kernel run
# modprobe for net-pf-16-proto-11, and connector.ko is loaded; modprobe by name then finds the
# other modules and their dependency on connector.ko (modules.dep).
# The tree and /sbin/modprobe (the kernel's modprobe path) exist only during this case.
. /tests/lib.sh
rel=$(uname -r)
tree=/modules/installed/lib/modules/$rel
[ -f "$tree/modules.alias" ] || fail "no depmod'ed tree at $tree"
grep -q '^alias net-pf-16-proto-11 connector$' "$tree/modules.alias" ||
	fail "modules.alias lacks connector's alias: $(cat "$tree/modules.alias")"
[ "$(cat /proc/sys/kernel/modprobe)" = /sbin/modprobe ] ||
	fail "the kernel's modprobe path is $(cat /proc/sys/kernel/modprobe), not /sbin/modprobe"
[ -e /sbin/modprobe ] || [ -e /lib/modules ] && fail "/sbin/modprobe or /lib/modules exists already"
is_loaded connector && fail "connector is loaded before the case"
cleanup() {
	rm -rf /lib/modules /sbin/modprobe
}
trap cleanup EXIT
mkdir -p /lib/modules
ln -s "$tree" "/lib/modules/$rel"
ln -s /bin/busybox /sbin/modprobe

# A socket, a bind and a join of group 1, then exit.
out=$(cnctl listen --group 1 --count 0 2>&1) || fail "cnctl listen failed: $out"
is_loaded connector || fail "connector.ko was not autoloaded by the first socket"
[ -e /proc/net/connector ] || fail "autoloaded, but no /proc/net/connector"

# By name, with the dependency from modules.dep: cn_test needs connector.
unload_all || fail "cannot unload the autoloaded core"
modprobe cn_test || fail "modprobe cn_test failed"
is_loaded connector && is_loaded cn_test || fail "modprobe cn_test: $(cut -d' ' -f1 /proc/modules)"
cn_users | grep -q cn_test || fail "cn_test is not a user of the connector: $(cn_users)"
modprobe -r cn_test || fail "modprobe -r cn_test failed"
true
