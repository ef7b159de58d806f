# cnctl's one-line errors name the cause. Without the connector the socket cannot be created and
# the hint says how to load it. Ours has a kernel socket in every network namespace: a send from
# `unshare -n` goes through. The in-tree C connector (cn.ko) has one in the initial namespace
# only: in another one (unshare -n) the socket opens but the kernel refuses the send
# (ECONNREFUSED), and the hint names the namespace the process is in.
# cnctl knows the initial network namespace by its fixed inode (NET_NS_INIT_INO, 0xEFFFFFF9 =
# 4026531833 since Linux 7.3), so the hint is the same in a new pid namespace too (unshare -p -f),
# also with its own /proc (--mount-proc), where pid 1 is cnctl itself, as in a container.
# Against a cnctl that compares with /proc/1/ns/net: the --mount-proc variant says "no connector
# socket in the kernel".
. /tests/lib.sh

# expect_error EXIT RE CMD...: CMD must exit with EXIT and print exactly one line on stderr,
# matching the extended regex RE.
expect_error() {
	_want=$1 _re=$2
	shift 2
	_rc=0
	_err=$("$@" 2>&1 >/dev/null) || _rc=$?
	[ "$_rc" = "$_want" ] || fail "$*: exit $_rc, expected $_want: $_err"
	[ "$(echo "$_err" | wc -l)" = 1 ] || fail "$*: not one line on stderr: $_err"
	echo "$_err" | grep -Eq "$_re" || fail "$*: unexpected error line: $_err"
	echo "$_err"
}

is_loaded connector && fail "connector is loaded before the case"
expect_error 2 '^cnctl: EPROTONOSUPPORT: .*; the connector is not loaded: modprobe connector, or insmod connector\.ko$' \
	cnctl send --idx 14 --val 0x456 --data x

load_core
unshare -n cnctl send --idx 14 --val 0x456 --data x >/dev/null ||
	fail "the send fails in a network namespace of its own"
rmmod connector || fail "rmmod connector failed"
insmod /modules/cn.ko || fail "insmod cn.ko failed"
initial=$(readlink /proc/self/ns/net)
[ "$initial" = "net:[4026531833]" ] || fail "the initial network namespace is $initial, not net:[4026531833]"
other=$(unshare -n readlink /proc/self/ns/net) || fail "unshare -n failed"
[ "$other" != "$initial" ] || fail "unshare -n gave the initial namespace $initial"
hint='; no connector socket in this network namespace, net:\[[0-9]+\]: the in-tree connector \(cn\.ko\) has a socket in the initial network namespace only, connector\.ko one in every namespace$'
line=$(expect_error 2 "^cnctl: ECONNREFUSED: .*$hint" \
	unshare -n cnctl send --idx 14 --val 0x456 --data x) || exit 1
case $line in
*"$initial"*) fail "the hint names the initial namespace $initial: $line" ;;
esac
expect_error 2 "^cnctl: ECONNREFUSED: .*$hint" \
	unshare -n cnctl proc --timeout-ms 2000 >/dev/null || exit 1
# A new pid namespace as well (as in a container): the same hint.
for pidns in "-p -f" "-p -f --mount-proc"; do
	# shellcheck disable=SC2086 # the options are words
	line=$(expect_error 2 "^cnctl: ECONNREFUSED: .*$hint" \
		unshare -n $pidns cnctl send --idx 14 --val 0x456 --data x) || exit 1
	case $line in
	*"$initial"*) fail "unshare -n $pidns: the hint names the initial namespace $initial: $line" ;;
	esac
done
# The same send from the initial namespace goes through.
cnctl send --idx 14 --val 0x456 --data x >/dev/null || fail "the send fails in the initial namespace"
