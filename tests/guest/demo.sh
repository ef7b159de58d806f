#!/bin/sh
# The demo of `make run`: loads our connector core and the cn_test peer, shows the registered
# connector users, receives the peer's timer broadcasts and sends it a message that it answers,
# then shows process events.
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
# Process events: a listener sees the fork, exec and exit of a short-lived shell.
run insmod /modules/cn_proc_example.ko
echo "+ cnctl proc --timeout-ms 4000 &  # then: sh -c 'exit 3'"
cnctl proc --timeout-ms 4000 &
listener=$!
sleep 1
sh -c 'exit 3' || true
wait $listener
run unload_all
echo "demo complete"
