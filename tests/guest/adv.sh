# Helpers for the adversarial guest cases (160..199), sourced after lib.sh and cn.sh.
#
#   PROC_LISTEN, PROC_IGNORE     the operations of process events requests
#   proc_msg OP EVENTS [ACK]     one netlink message to {1, 1}: a struct proc_input {OP, EVENTS}
#                                (EVENTS `-`: the bare 4-byte OP of older kernels), as hex
#   repeat N STR                 STR N times
#   good_msgs FIRST LAST FLAGS   netlink messages (nlmsg_flags FLAGS) carrying "good" to
#                                cn_test's {14, 0x456} with seq FIRST..LAST, as hex (one awk:
#                                forks are slow on the debug kernel)
#   wait_for FILE RE SECS WHAT   wait up to SECS for a line of FILE matching the extended regex
#                                RE; fails the case with WHAT (and FILE) if none comes
#   load_proc                    the core and cn_proc_example.ko
#   start_proc_listener OUT      a root `cnctl proc` listener (every event) in the background,
#                                its output in OUT; waits for its acknowledgement; sets $listener
#   child_events OUT WHY         starts `sh -c 'exit 3'` and waits for the listener writing OUT
#                                to get its fork, exec and exit events (fails with WHY if not);
#                                sets $child
#   elapsed                      seconds since the case started

PROC_LISTEN=1
PROC_IGNORE=2
adv_start=$(date +%s)

proc_msg() {
	if [ "$2" = - ]; then
		nlmsg 40 0 "$(cnmsg 1 1 0 "${3:-0}" 4 "$(le32 "$1")")"
	else
		nlmsg 44 0 "$(cnmsg 1 1 0 "${3:-0}" 8 "$(le32 "$1")$(le32 "$2")")"
	fi
}

repeat() {
	_r=
	_i=0
	while [ $_i -lt "$1" ]; do
		_r=$_r$2
		_i=$((_i + 1))
	done
	printf '%s' "$_r"
}

good_msgs() {
	awk -v first="$1" -v last="$2" -v flags="$3" -v idx=$CN_IDX -v val=$CN_VAL '
	function le(n, bytes,   s, i) {
		s = ""
		for (i = 0; i < bytes; i++) { s = s sprintf("%02x", n % 256); n = int(n / 256) }
		return s
	}
	BEGIN {
		for (seq = first; seq <= last; seq++)
			printf "%s0300%s%s%s%s%s%s%s%s0000676f6f6400000000", le(41, 4), le(flags, 2),
				le(0, 4), le(0, 4), le(idx, 4), le(val, 4), le(seq, 4), le(0, 4), le(5, 2)
	}'
}

wait_for() {
	_end=$(($(date +%s) + $3))
	until grep -E -q -- "$2" "$1" 2>/dev/null; do
		if [ "$(date +%s)" -ge $_end ]; then
			echo "---- $1"
			tail -n 40 "$1"
			fail "$4 (no line matching '$2' in $1 within $3 s)"
		fi
		sleep 0.1
	done
}

load_proc() {
	load_core
	insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
}

start_proc_listener() {
	cnctl proc --timeout-ms 100000 >"$1" 2>"$1.err" &
	listener=$!
	wait_for "$1" "^proc [0-9.]+ none err=0 ack=1 " 10 "the root listener got no acknowledgement"
}

child_events() {
	sh -c 'exit 3' &
	child=$!
	wait $child
	wait_for "$1" " fork .*child_pid=$child " 10 "no fork event of child $child $2"
	wait_for "$1" " exec pid=$child " 10 "no exec event of child $child $2"
	wait_for "$1" " exit pid=$child tgid=$child exit_code=768 " 10 "no exit event of child $child $2"
	echo "events of child $child $2: fork, exec, exit"
}

elapsed() {
	echo $(($(date +%s) - adv_start))
}
