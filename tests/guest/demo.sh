#!/bin/sh
# The demo of `make run`: loads our connector core and the cn_test peer, shows the registered
# connector users, receives the peer's timer broadcasts and sends it a message that it answers.
# /init prefixes every line with `[demo] `; scripts/run prints these lines on the host.
set -e
. /tests/lib.sh
trap 'unload_all >/dev/null' EXIT

run() {
	echo "+ $*"
	"$@"
}

run insmod /modules/connector.ko
run insmod /modules/cn_test.ko reply=1
run cat /proc/net/connector
run cnctl listen --group 14 --count 3 --timeout-ms 10000
run cnctl send --idx 14 --val 0x456 --seq 1 --ack 7 --data hello --nul --reply-timeout-ms 3000
run unload_all
echo "demo complete"
