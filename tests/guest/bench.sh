#!/bin/sh
# The benchmark of `make bench` (scripts/bench), started by /init in mode `bench` or `bench-smp`.
#
# Three configurations, in alternating rounds, measured with `cnctl bench` (tests/bench/
# bench_proto.h is the protocol):
#   floor  nl_bench_floor.ko: a bare netlink socket on unit 30 (cnctl --proto 30)
#   cn     the in-tree C cn.ko + cn_bench_peer.ko
#   ours   our connector.ko + the same cn_bench_peer.ko
# Mode bench (guest clock = executed instructions, one CPU): every row, then the allocations per
# message of each path (kmem tracepoints); before them, the cost of cn_proc_example's fprobes
# (probecost_rows). Mode bench-smp (two CPUs, real time): the send and
# broadcast rows from two pinned threads. Prints one line per row,
# `mode=M round=R config=C <cnctl's result>`; a failed row prints a HARNESS-ERROR line instead.
# Mode bench-profile (scripts/bench-profile: QEMU logs every executed instruction between the
# markers): per configuration, `sym C ADDRESS NAME` lines for its modules' text symbols, then
# for each profiled path two `cnctl bench` runs between `profile-start W` and `profile-stop W`
# lines (profile_window).
. /tests/lib.sh

rounds=3
case $1 in
bench) mode=icount ;;
bench-smp) mode=smp2 ;;
bench-profile)
	mode=profile
	rounds=1
	profile_count=$(sed -n 's/.*bench_profile.count=\([0-9]*\).*/\1/p' /proc/cmdline)
	# bench_profile.configs=A,B (scripts/bench-profile's PROFILE_CONFIGS): only those.
	profile_configs=$(sed -n 's/.*bench_profile.configs=\([a-z,]*\).*/\1/p' /proc/cmdline | tr , ' ')
	exec 3</dev/ttyS2
	;;
*) fail "usage: bench.sh bench|bench-smp|bench-profile" ;;
esac
# Our lines only: the modules' load messages stay off the console.
dmesg -n 1

load() {
	case $1 in
	floor) insmod /modules/nl_bench_floor.ko ;;
	cn) insmod /modules/cn.ko && insmod /modules/cn_bench_peer.ko ;;
	ours) insmod /modules/connector.ko && insmod /modules/cn_bench_peer.ko ;;
	esac || fail "cannot load the modules of $1"
}

unload() {
	case $1 in
	floor) rmmod nl_bench_floor ;;
	cn) rmmod cn_bench_peer && rmmod cn ;;
	ours) rmmod cn_bench_peer && rmmod connector ;;
	esac || fail "cannot unload the modules of $1"
}

# row KIND ARGS...: one `cnctl bench KIND` run of the current configuration, printed.
row() {
	_kind=$1
	shift
	if _out=$(cnctl bench "$_kind" --proto "$proto" "$@" 2>/tmp/bench.err); then
		echo "mode=$mode round=$round config=$config $_out"
	else
		echo "HARNESS-ERROR: mode=$mode round=$round config=$config row=$_kind $*:" \
			"cnctl exit $?: $(cat /tmp/bench.err)"
	fi
}

# The allocations of a path: kmem tracepoint events of `cnctl bench KIND ARGS --count N`, of
# this shell's descendants only, counted for N = $alloc_n and 2 * $alloc_n after an untraced run
# (first-time costs); the difference over $alloc_n is per message (what one cnctl run costs
# besides its messages cancels out).
T=/sys/kernel/tracing
alloc_events="kmem/kmalloc kmem/kmem_cache_alloc kmem/mm_page_alloc"
alloc_n=300

# trace_events ENABLE: switches the allocation events on (1) or off (0).
trace_events() {
	for _e in $alloc_events; do
		echo "$1" >$T/events/$_e/enable
	done
}

# alloc_count COUNT KIND ARGS...: the numbers of kmalloc, kmem_cache_alloc and mm_page_alloc
# events of one run.
alloc_count() {
	_n=$1
	shift
	echo >$T/trace
	echo 1 >$T/tracing_on
	cnctl bench "$@" --proto "$proto" --count "$_n" >/dev/null 2>/tmp/bench.err ||
		echo "HARNESS-ERROR: mode=$mode round=$round config=$config allocs $* failed:" \
			"$(cat /tmp/bench.err)" >&2
	echo 0 >$T/tracing_on
	# Lost events would make the count wrong: entries-in-buffer/entries-written must agree.
	awk '$2 == "entries-in-buffer/entries-written:" && split($3, n, "/") && n[1] != n[2] {
			print "HARNESS-ERROR: the trace buffer overflowed" > "/dev/stderr" }
		/ kmalloc: / { a++ } / kmem_cache_alloc: / { c++ } / mm_page_alloc: / { p++ }
		END { print a + 0, c + 0, p + 0 }' $T/trace
}

# allocs PATH KIND ARGS...: prints `row=allocs path=PATH per_msg=X` and X by event.
allocs() {
	_path=$1
	shift
	cnctl bench "$@" --proto "$proto" --count $alloc_n >/dev/null 2>&1
	_one=$(alloc_count $alloc_n "$@")
	_two=$(alloc_count $((2 * alloc_n)) "$@")
	echo "mode=$mode round=$round config=$config row=allocs path=$_path count=$alloc_n" \
		"$(echo "$_one $_two" | awk -v n=$alloc_n '{
			printf "per_msg=%.2f kmalloc=%.2f kmem_cache_alloc=%.2f mm_page_alloc=%.2f",
				($4 + $5 + $6 - $1 - $2 - $3) / n, ($4 - $1) / n, ($5 - $2) / n, ($6 - $3) / n }')"
}

if [ $mode = icount ]; then
	mount -t tracefs tracefs $T || fail "cannot mount tracefs (CONFIG_TRACING)"
	for _e in $alloc_events; do
		[ -d $T/events/$_e ] || fail "no trace event $_e"
	done
	echo 4096 >$T/buffer_size_kb
	echo $$ >$T/set_event_pid
	echo 1 >$T/options/event-fork
	echo 0 >$T/tracing_on
fi

# shrink_slabs: every slab cache gives back its empty and per-CPU partial slabs.
shrink_slabs() {
	for _f in /sys/kernel/slab/*/shrink; do
		echo 1 >"$_f"
	done
}

# percb COUNT: bytes per registered callback. The slab caches give back their empty and per-CPU
# partial slabs first, so that the registrations' objects come from new slabs (counted).
percb() {
	shrink_slabs
	row percb --count "$1"
}

# The rows of one configuration (counts sized for about 0.1 s each), then the allocations (in
# the first round: they are counts, not timings).
icount_rows() {
	row send --size 0 --count 20000
	row send --size 64 --count 20000
	row send --size 1024 --count 10000
	row send --size 16000 --count 2000
	row rtt --size 0 --count 5000
	row rtt --size 1024 --count 3000
	row bcast --size 0 --listeners 1 --count 10000
	row bcast --size 0 --listeners 4 --count 3000
	row bcast --size 1024 --listeners 1 --count 5000
	row bcast --size 1024 --listeners 4 --count 2000
	row adddel --count 5000
	[ $config = floor ] || percb 5000
	[ $round = 1 ] || return 0
	trace_events 1
	allocs send send --size 64
	allocs rtt rtt --size 64
	allocs bcast bcast --size 64 --listeners 1
	trace_events 0
}

# Real time on two CPUs varies much more: longer rows (about 0.3 s each on an idle host).
smp2_rows() {
	row send --size 0 --threads 2 --count 50000
	row send --size 1024 --threads 2 --count 25000
	row bcast --size 0 --listeners 1 --threads 2 --count 20000
}

# settle: under icount, lets the deferred work of the previous configuration (RCU callbacks,
# kvfree_rcu batches, drained after at most 5 s) run before the next one's rows, not during
# them (an idle guest's clock jumps to its next timer with sleep=off: this costs little real
# time), then has every slab cache give back its free slabs, so that each configuration starts
# from the same slab state (refilling a cache costs page allocations, billed to whoever needs it).
settle() {
	[ $mode = icount ] || return 0
	sleep 6
	shrink_slabs
}

# profile_window NAME COUNT KIND ARGS...: `cnctl bench KIND ARGS --count COUNT` while the host
# logs every executed instruction: `profile-start NAME` (then waits for the host's line on
# /dev/ttyS2, open as fd 3: logging is on), the run, `profile-stop NAME` (and waits again: logging
# is off). The port stays open: opening it clears its input.
profile_window() {
	_name=$1
	_n=$2
	shift 2
	echo "profile-start $_name"
	read -r _go <&3
	cnctl bench "$@" --count "$_n" --proto "$proto" >/dev/null ||
		fail "cnctl bench $* failed ($config)"
	echo "profile-stop $_name"
	read -r _go <&3
}

# profile_path PATH KIND ARGS...: a warm-up, then windows of N and 2N runs of the path: the host
# takes their difference, which leaves N and cancels what a cnctl run and the waits for the host
# cost besides.
profile_path() {
	_path=$1
	shift
	cnctl bench "$@" --count 200 --proto "$proto" >/dev/null ||
		fail "cnctl bench $* failed ($config)"
	profile_window "$config-$_path-1" "$profile_count" "$@"
	profile_window "$config-$_path-2" $((2 * profile_count)) "$@"
}

# profile_rows: the text symbols of the configuration's modules, then the profiled paths.
profile_rows() {
	awk -v c=$config '$2 ~ /^[tT]$/ && $4 ~ /^\[/ { print "sym", c, $1, $3 }' /proc/kallsyms
	profile_path send send --size 0
	profile_path send64 send --size 64
	profile_path send1k send --size 1024
	profile_path bcast bcast --size 0 --listeners 1
	[ $config = floor ] || profile_path adddel adddel
}

# probecost_rows: (mode bench, after the connector rows) the cost of cn_proc_example's fprobes:
# guest ns per credential change (`proctrigger time-ids`: the effective uid 0 -> 1000 -> 0) and
# per new session (`time-setsid`: a child's fork, setsid(), exit and reaping) and per failing
# setsid() (`time-setsid-eperm`: a session leader's, which makes no event), with our core
# loaded and cn_proc_example not loaded (unloaded), loaded with probe_events=0 (off), loaded with
# its probes and nobody listening (probes), and with one listener, which gets every event (listener).
probecost_rows() {
	for config in unloaded off probes listener; do
		case $config in
		unloaded) true ;;
		off) insmod /modules/cn_proc_example.ko probe_events=0 ;;
		*) insmod /modules/cn_proc_example.ko ;;
		esac || fail "cannot load cn_proc_example ($config)"
		if [ $config = listener ]; then
			cnctl proc --timeout-ms 36000000 >/dev/null 2>&1 &
			listener=$!
		fi
		settle
		echo "mode=$mode round=$round config=$config row=probecost" \
			"$(proctrigger time-ids 5000) $(proctrigger time-setsid 300)" \
			"$(proctrigger time-setsid-eperm 20000)"
		if [ $config = listener ]; then
			kill $listener
			wait $listener
		fi
		[ $config = unloaded ] || rmmod cn_proc_example || fail "cannot unload cn_proc_example"
	done
}

round=1
while [ $round -le $rounds ]; do
	if [ $mode = icount ]; then
		insmod /modules/connector.ko || fail "cannot load connector.ko"
		probecost_rows
		rmmod connector || fail "cannot unload connector.ko"
	fi
	for config in ${profile_configs:-floor cn ours}; do
		proto=11
		[ $config = floor ] && proto=30
		load $config
		settle
		${mode}_rows
		unload $config
	done
	round=$((round + 1))
done
