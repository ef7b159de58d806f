# Without CAP_NET_ADMIN only the process events group (1) may be joined; others give EPERM.
# (The C connector tests bit 0 of the group number, so it lets odd groups through as well; ours
# opens only group 1. Group 14, even, behaves the same in both.)
# configs: rust c cpeer
. /tests/lib.sh
. /tests/cn.sh
load_core
out=$(cnctl --as-uid 1000 bind --group 14 2>&1) && fail "unprivileged bind to 14 succeeded: $out"
echo "$out" | grep -q "^cnctl: EPERM: joining connector group 14: " || fail "expected EPERM, got: $out"
cnctl --as-uid 1000 bind --group 1 || fail "unprivileged bind to the proc group failed"
cnctl bind --group 14 || fail "root bind to 14 failed"
cnctl bind --group 25 || fail "root bind to the last group failed"
if [ "$CONFIG" != c ]; then
	out=$(cnctl --as-uid 1000 bind --group 3 2>&1) && fail "unprivileged bind to 3 succeeded: $out"
	echo "$out" | grep -q "^cnctl: EPERM: joining connector group 3: " ||
		fail "expected EPERM for group 3, got: $out"
fi
