# cnctl's output forms: JSON lines (`--json`) of `listen` and `proc`, checked key by key (busybox
# has no jq); `--timestamps wall` and `mono` leading every line (`time=`/`mono=`, in JSON the
# "time" key): the time the line was printed, `mono` on CLOCK_MONOTONIC, the clock of the events'
# own timestamps, so never below them; `--resolve` naming a process that still runs
# (name="..."); text fields quoted and escaped in text lines (`comm="cn a=b"`, a quote as \x22),
# real JSON strings in JSON (a quote as \", UTF-8 as is, and "comm_hex" when not UTF-8).
# Against a cnctl without these, the first check fails: `listen --json` is a usage error (64);
# without --json and --timestamps, `comm=cn a=b` is unquoted and has no name.
. /tests/lib.sh
. /tests/cn.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
load_peer

# wait_for FILE RE [SECS]: waits up to SECS (default 20) for a line of FILE matching RE.
wait_for() {
	_i=0
	until grep -E -q -- "$2" "$1" 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -gt $((${3:-20} * 5)) ]; then
			echo "---- $1"
			cat "$1"
			return 1
		fi
		sleep 0.2
	done
}

# A JSON string: no bare quote or backslash inside, escapes as \" \\ \uNNNN.
str='"([^"\\]|\\.)*"'
wall='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z'
mono='[0-9]+\.[0-9]{9}'

# listen: cn_test's timer broadcasts ("counter = N" to group 14, id 14:0x457).
out=$(cnctl listen --group $CN_IDX --count 1 --timeout-ms 10000 --json --timestamps wall) ||
	fail "listen --json failed: $out"
echo "$out"
echo "$out" | grep -E -q "^\{\"time\":\"$wall\",\"type\":\"recv\",\"idx\":14,\"val\":1111,\"seq\":[0-9]+,\"ack\":0,\"len\":[0-9]+,\"flags\":0,\"data\":\"counter = [0-9]+\",\"hex\":\"[0-9a-f]+\"\}$" ||
	fail "listen --json: not the expected keys"
# "hex" holds the data bytes: "counter = " is 636f756e746572203d20.
echo "$out" | grep -q '"hex":"636f756e746572203d20' || fail "listen --json: hex is not the data"
out=$(cnctl listen --group $CN_IDX --count 1 --timeout-ms 10000 --timestamps mono) ||
	fail "listen --timestamps mono failed: $out"
echo "$out"
echo "$out" | grep -E -q "^mono=$mono recv idx=14 val=1111 " || fail "listen: no mono= timestamp"
# mono is CLOCK_MONOTONIC; /proc/uptime is CLOCK_BOOTTIME, never below it, and the same in a
# guest that was never suspended.
ts=$(echo "$out" | sed -n 's/^mono=\([0-9.]*\) .*/\1/p')
up=$(cut -d' ' -f1 /proc/uptime)
awk -v t="$ts" -v u="$up" 'BEGIN { exit !(t <= u + 0.1 && t > u - 20) }' ||
	fail "mono=$ts is not near the uptime $up"

# proc: one listener in JSON with mono timestamps, one in text with wall timestamps, both
# resolving names.
cnctl proc --json --timestamps mono --resolve --timeout-ms 60000 >/tmp/out-json.out \
	2>/tmp/out-json.err &
json_listener=$!
cnctl proc --timestamps wall --resolve --timeout-ms 60000 >/tmp/out-text.out 2>/tmp/out-text.err &
text_listener=$!
wait_for /tmp/out-json.out '"event":"none","err":0' || fail "proc --json: no acknowledgement"
wait_for /tmp/out-text.out " none err=0 " || fail "proc (text): no acknowledgement"

me=$$
sh -c 'exit 3' &
child=$!
wait $child
wait_for /tmp/out-json.out "\"event\":\"fork\",\"parent_pid\":$me,\"parent_tgid\":$me,\"child_pid\":$child,\"child_tgid\":$child,\"cpu\":[0-9]+,\"seq\":[0-9]+,\"ack\":0[,}]" ||
	fail "proc --json: no fork of $child"
wait_for /tmp/out-json.out "\"event\":\"exit\",\"pid\":$child,\"tgid\":$child,\"exit_code\":768,\"exit_signal\":17,\"parent_pid\":$me,\"parent_tgid\":$me,\"cpu\":" ||
	fail "proc --json: no exit of $child"

# A process renamed with a space and '=' in the name: comm quoted. Its subshell (a fork that
# does not exec) inherits the name and still runs when its fork event is printed: --resolve
# names it. (The comm event itself may come before the rename is done: the kernel sends it
# first, so its name= may still be the old one.)
sh -c 'echo -n "cn a=b" >/proc/self/comm; (sleep 3; true); true' &
renamed=$!
wait_for /tmp/out-text.out "^time=$wall proc [0-9.]+ comm pid=$renamed tgid=$renamed comm=\"cn a=b\" cpu=[0-9]+ seq=[0-9]+ name=\"[^\"]*\"$" ||
	fail "proc: no quoted comm of $renamed"
wait_for /tmp/out-text.out "^time=$wall proc [0-9.]+ fork parent_pid=$renamed parent_tgid=$renamed child_pid=[0-9]+ child_tgid=[0-9]+ cpu=[0-9]+ seq=[0-9]+ name=\"cn a=b\"$" ||
	fail "proc --resolve: no name of the running child of $renamed"
wait_for /tmp/out-json.out "\"event\":\"comm\",\"pid\":$renamed,\"tgid\":$renamed,\"comm\":\"cn a=b\",\"cpu\":[0-9]+,\"seq\":[0-9]+,\"ack\":0,\"name\":\"[^\"]*\"\}$" ||
	fail "proc --json: no comm of $renamed"
wait_for /tmp/out-json.out "\"event\":\"fork\",\"parent_pid\":$renamed,\"parent_tgid\":$renamed,\"child_pid\":[0-9]+,\"child_tgid\":[0-9]+,\"cpu\":[0-9]+,\"seq\":[0-9]+,\"ack\":0,\"name\":\"cn a=b\"\}$" ||
	fail "proc --json --resolve: no name of the running child of $renamed"
wait $renamed
# A quote is escaped as in data="...".
sh -c "echo -n 'q\"x' >/proc/self/comm" &
wait $!
wait_for /tmp/out-text.out 'comm="q\\x22x"' || fail "proc: the quote in a comm is not escaped"
# In JSON it is a JSON escape, not \x22 (nor \\x22).
wait_for /tmp/out-json.out '"comm":"q\\"x",' || fail "proc --json: the quote in a comm is not \\\""
# UTF-8 as is in JSON (é: \303\251), with \xNN escapes in the text line.
sh -c "printf 'caf\303\251' >/proc/self/comm" &
wait $!
wait_for /tmp/out-json.out '"comm":"café","cpu":' || fail "proc --json: a UTF-8 comm is not as is"
wait_for /tmp/out-text.out 'comm="caf\\xc3\\xa9"' || fail "proc: a UTF-8 comm is not escaped"
# Not UTF-8 (a lone \351): U+FFFD in "comm", the bytes in "comm_hex".
sh -c "printf 'x\351y' >/proc/self/comm" &
wait $!
wait_for /tmp/out-json.out "\"comm\":\"x$(printf '\357\277\275')y\",\"comm_hex\":\"78e979\",\"cpu\":" ||
	fail "proc --json: a comm that is not UTF-8 has no comm_hex"

kill $json_listener $text_listener
wait $json_listener
wait $text_listener
# Every JSON line has the shape of a process event (with "name" only when resolved), and every
# text line leads with its time.
bad=$(grep -E -v "^\{\"time\":\"$mono\",\"type\":\"proc\",\"timestamp_ns\":[0-9]+,\"event\":\"[a-z]+\",(\"[a-z_]+\":(-?[0-9]+|$str),)*\"cpu\":[0-9]+,\"seq\":[0-9]+,\"ack\":[0-9]+(,\"name\":$str(,\"name_hex\":\"[0-9a-f]+\")?)?\}$" /tmp/out-json.out)
[ -z "$bad" ] || fail "proc --json: lines of another shape: $bad"
# "time" (mono, when printed) and "timestamp_ns" (the kernel's, when sent) are on the same clock:
# the first is never below the second, and not far above it.
bad=$(sed -n 's/^{"time":"\([0-9.]*\)","type":"proc","timestamp_ns":\([0-9]*\),.*/\1 \2/p' /tmp/out-json.out |
	awk '{ d = $1 - $2 / 1e9; if (d < -0.000001 || d > 30) print }')
[ -z "$bad" ] || fail "proc --json: mono time not just after the event's timestamp: $bad"
[ "$(grep -c . /tmp/out-json.out)" -gt 5 ] || fail "proc --json: too few lines"
bad=$(grep -E -v "^time=$wall proc $mono [a-z]+ " /tmp/out-text.out)
[ -z "$bad" ] || fail "proc --timestamps wall: lines without the time: $bad"
