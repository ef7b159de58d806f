# Adversarial: everything at once on -smp 2, for 25 s:
#  - two senders flooding {14, 0x456} with 2000-byte messages, one pinned to each CPU (root and
#    uid 1000; `cnctl flood`, which never reads, in a loop of 1000-message runs, each a new socket),
#  - load/unload churn of the peers, which share their ids: the Rust cn_test.ko (reply=1, a 20 ms
#    timer; unloaded once a flooder's receive queue is full of its replies, or after 15 s) and the
#    C cn_test_c.ko in turn, each unload bounded to 10 s,
#  - two readers of /proc/net/connector, each listing checked (header, `%-15s %u:%u` lines),
#  - notification requests (val 0x456 only) added, listening 1 s on group 7, and removed in a
#    loop, each acked 0, while one request (0x456 and 0x457) on group 8 watches the whole run,
#  - short process events listeners, root and uid 1000, opening and closing;
# then a liveness check: the churn never got stuck, the watcher got exactly two notifications per
# load and per unload, cn_test loads and gets
# a good message, the listing is exactly what is registered, no notification request is left, a
# process events listener gets the events of a child, and everything unloads.
# configs: rust
. /tests/lib.sh
. /tests/cn.sh
. /tests/adv.sh
DURATION=25
load_proc
stop=/tmp/stop
errs=/tmp/errors
rm -f $stop $errs /tmp/churn.count
touch $errs
err() { echo "$*" >>$errs; }

# A notification request watching both peer ids for the whole run, on group 8: every load and
# unload of either peer must reach it (two ids each).
cnctl notify --add 8 --idx 14:1 --val 0x456:2 --nl-ack --listen-ms 600000 >/tmp/watch.out \
	2>/tmp/watch.err &
watcher=$!
wait_for /tmp/watch.err "^listening group=8" 20 "the notification watcher did not start"

# flood_loop CPU [--as-uid U]: floods pinned to CPU, in runs of 1000 messages, each from a new
# socket, until the stop file appears; the running cnctl's pid is in /tmp/flood.CPU.pid.
flood_loop() {
	_cpu=$1
	shift
	while [ ! -e $stop ]; do
		taskset $((1 << _cpu)) cnctl "$@" flood --idx $CN_IDX --val $CN_VAL --count 1000 \
			--data "$payload" >/dev/null 2>&1 &
		echo $! >/tmp/flood.$_cpu.pid
		wait $!
	done
}
# 2000 bytes a message: a few dozen replies fill a receive queue even on a slow machine.
payload=$(repeat 2000 x)
flood_loop 0 &
flood1=$!
flood_loop 1 --as-uid 1000 &
flood2=$!

# rmmod_within NAME SECS: rmmod NAME, failing (returning 1) if it takes longer than SECS.
rmmod_within() {
	rmmod "$1" &
	_rm=$!
	_end=$(($(date +%s) + $2))
	while kill -0 $_rm 2>/dev/null; do
		if [ "$(date +%s)" -ge $_end ]; then
			err "rmmod $1 stuck for $2 s: state $(cut -d' ' -f3 /proc/$_rm/stat 2>/dev/null)," \
				"wchan $(cat /proc/$_rm/wchan 2>/dev/null)"
			return 1
		fi
		sleep 0.1
	done
	wait $_rm || { err "rmmod $1 failed"; return 2; }
}
# full_queue SECS: waits up to SECS for a flooder's receive queue to fill with replies: a
# connector socket with more than 64 KiB queued that stayed the same for 1 s. Returns 1 if none.
full_queue() {
	_end=$(($(date +%s) + $1))
	_prev=
	while [ "$(date +%s)" -lt $_end ]; do
		_now=$(awk '$2 == 11 && $5 > 65536 { printf "%s:%s ", $3, $5 }' /proc/net/netlink)
		for _s in $_now; do
			case " $_prev " in *" $_s "*) return 0 ;; esac
		done
		_prev=$_now
		sleep 1
	done
	return 1
}
# churn: loads and unloads the two peers in turn until the stop file appears (or an unload is
# stuck); the numbers of successful loads and unloads go to /tmp/churn.count.
churn() {
	_loads=0
	_unloads=0
	_full=0
	while [ ! -e $stop ]; do
		for _ko in cn_test cn_test_c; do
			_params=
			[ $_ko = cn_test ] && _params="interval_ms=20 reply=1"
			# shellcheck disable=SC2086
			if insmod /modules/$_ko.ko $_params; then
				_loads=$((_loads + 1))
			else
				err "insmod $_ko.ko failed"
			fi
			# cn_test answers each message: let a flooder's queue fill before the unload.
			if [ $_ko = cn_test ]; then
				full_queue 15 && _full=$((_full + 1))
			else
				sleep 0.3
			fi
			rmmod_within $_ko 10 || break 2
			_unloads=$((_unloads + 1))
		done
	done
	echo "$_loads $_unloads" >/tmp/churn.count
	echo "churn: $_loads loads, $_unloads unloads; $_full times a flooder's queue was full at an unload of cn_test"
}
churn &
churner=$!

proc_reader() {
	_n=0
	while [ ! -e $stop ]; do
		cat /proc/net/connector >/tmp/listing.$1 || err "cannot read /proc/net/connector"
		awk 'NR == 1 && $0 != "Name            ID" { bad = 1 }
			NR > 1 && $0 !~ /^[^ ]+ +[0-9]+:[0-9]+$/ { bad = 1 }
			END { exit bad || NR < 2 }' /tmp/listing.$1 ||
			err "bad listing: $(cat /tmp/listing.$1)"
		_n=$((_n + 1))
	done
	echo "reader $1: $_n listings"
}
proc_reader 1 &
reader1=$!
proc_reader 2 &
reader2=$!

notifier() {
	_n=0
	while [ ! -e $stop ]; do
		cnctl notify --add 7 --idx 14:1 --val 0x456:1 --nl-ack --listen-ms 1000 >/tmp/notify.out 2>&1
		grep -q "^nlack error=0$" /tmp/notify.out || err "notification request not acked 0: $(cat /tmp/notify.out)"
		_out=$(cnctl notify --remove --idx 14:1 --val 0x456:1 --nl-ack 2>/dev/null)
		[ "$_out" = "nlack error=0" ] || err "notification removal not acked 0: $_out"
		_n=$((_n + 1))
	done
	echo "notifier: $_n requests"
}
notifier &
notifier=$!

proc_listeners() {
	_n=0
	while [ ! -e $stop ]; do
		cnctl proc --timeout-ms 300 >/dev/null 2>&1 || err "root proc listener failed"
		cnctl --as-uid 1000 proc --timeout-ms 300 >/dev/null 2>&1 || err "uid 1000 proc listener failed"
		_n=$((_n + 2))
	done
	echo "proc listeners: $_n"
}
proc_listeners &
listeners=$!

t0=$(date +%s)
while [ $(($(date +%s) - t0)) -lt $DURATION ] && kill -0 $churner 2>/dev/null; do
	sleep 1
done
touch $stop
echo "stopping after $(($(date +%s) - t0)) s"
# A churn stuck in an unload ends early: let the others finish their round (bounded).
end=$(($(date +%s) + 20))
for pid in $churner $reader1 $reader2 $notifier $listeners; do
	while kill -0 $pid 2>/dev/null && [ "$(date +%s)" -lt $end ]; do
		sleep 0.2
	done
done
kill -KILL $flood1 $flood2 $(cat /tmp/flood.0.pid /tmp/flood.1.pid) 2>/dev/null
wait $churner $reader1 $reader2 $notifier $listeners $flood1 $flood2
echo "---- problems during the run"
cat $errs
[ -s $errs ] && fail "$(head -n 1 $errs)"
sleep 1
kill $watcher
wait $watcher
read -r loads unloads </tmp/churn.count
added=$(grep -c "^recv idx=14 val=111[01] seq=0 ack=0 " /tmp/watch.out)
removed=$(grep -c "^recv idx=14 val=111[01] seq=0 ack=1 " /tmp/watch.out)
echo "notifications: $added added, $removed removed, for $loads loads and $unloads unloads"
[ "$added" = $((2 * loads)) ] && [ "$removed" = $((2 * unloads)) ] ||
	fail "expected $((2 * loads)) added and $((2 * unloads)) removed notifications"
out=$(cnctl notify --remove --idx 14:1 --val 0x456:2 --nl-ack 2>/dev/null)
[ "$out" = "nlack error=0" ] || fail "the watcher's request could not be removed: '$out'"

# Liveness (the core and cn_proc_example stay loaded from the start).
for m in cn_test cn_test_c; do
	if is_loaded $m; then rmmod_within $m 10 || fail "$(cat $errs)"; fi
done
load_peer interval_ms=0
mark_dmesg
send_good 999
expect_delivered 999
listing=$(cn_users)
echo "$listing"
expected="Name            ID
cn_control      4294967295:4294967295
cn_proc         1:1
cn_test         14:1110
cn_test         14:1111"
[ "$(echo "$listing" | sort)" = "$(echo "$expected" | sort)" ] || fail "listing is not what is registered"
for vals in 0x456:1 0x456:2; do
	out=$(cnctl notify --remove --idx 14:1 --val $vals --nl-ack 2>/dev/null)
	[ "$out" = "nlack error=-2" ] ||
		fail "a notification request (val $vals) was left behind: removal answered '$out'"
done
start_proc_listener /tmp/root.out
child_events /tmp/root.out "after the churn"
kill $listener
wait $listener
unload_all || fail "cannot unload everything"
echo "took $(elapsed) s"
