#!/bin/sh
# The benchmark of `make bench` (scripts/bench), in a guest whose clock follows executed
# instructions: round trips userspace -> connector core -> cn_test (reply=1) -> userspace, through
# our core and through the in-tree C cn.ko, with the same cn_test and the same cnctl. Prints one
# `bench core=... data=...` line per run.
set -e
. /tests/lib.sh
# Console output would dominate: cn_test logs every message (as the C sample does).
dmesg -n 1
for core in connector cn; do
	insmod /modules/$core.ko
	insmod /modules/cn_test.ko reply=1 interval_ms=0
	cnctl flood --idx 14 --val 0x456 --count 200 --data warmup --reply >/dev/null
	for size in 16 1024; do
		data=$(head -c $size /dev/zero | tr '\0' x)
		for run in 1 2 3; do
			out=$(cnctl flood --idx 14 --val 0x456 --count 2000 --data "$data" --reply)
			echo "bench core=$core data=$size run=$run $out"
		done
	done
	unload_all
done
