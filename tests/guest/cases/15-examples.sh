# The consumer examples of examples/ (built with their own Makefiles, as a module author builds
# them) load against the core and answer cnctl: the Rust one at {15, 1}, the C one at {15, 2},
# each with the same id and seq, ack + 1 and the same data. Unloading them unregisters: a message
# to their ids then gets no answer.
. /tests/lib.sh
load_core
insmod /modules/cn_echo.ko || fail "insmod cn_echo.ko (examples/rust-echo) failed"
insmod /modules/cn_echo_c.ko || fail "insmod cn_echo_c.ko (examples/c-echo) failed"
cn_users | grep -q 'cn_echo_c' || fail "cn_echo_c is not among the connector's users: $(cn_users)"

# ask VAL SEQ DATA: one message to {15, VAL}; prints the reply line.
ask() {
	cnctl send --idx 15 --val "$1" --seq "$2" --ack 7 --data "$3" --reply-timeout-ms 5000
}
for val in 1 2; do
	out=$(ask $val $((100 + val)) "hello $val") || fail "no reply from {15, $val}: $out"
	echo "$out"
	echo "$out" | grep -q "^recv idx=15 val=$val seq=$((100 + val)) ack=8 len=7 flags=0 data=\"hello $val\"$" ||
		fail "wrong reply from {15, $val}: $out"
done

mark_dmesg
rmmod cn_echo_c cn_echo || fail "rmmod of the examples failed"
expect_dmesg "cn_echo_c: answered 1 messages"
expect_dmesg "cn_echo: answered 1 messages"
for val in 1 2; do
	out=$(cnctl send --idx 15 --val $val --data late --reply-timeout-ms 300) &&
		fail "{15, $val} still answers after rmmod: $out"
done
true
