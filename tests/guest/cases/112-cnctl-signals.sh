# `cnctl proc` and `cnctl listen` end cleanly on SIGINT, SIGTERM and a closed stdout (`| head`):
# exit status 0, no `cnctl:` error line, and `proc` sends PROC_CN_MCAST_IGNORE before it goes,
# as the kernel's proc_filter.c selftest does. The IGNORE is checked from the kernel's side: its
# acknowledgement (`none err=0`, broadcast to the listeners that ask for every event) reaches a
# second listener, the watcher. (Closing the socket alone also takes it out of the listener count
# here, as cn_proc_example counts sockets, not requests: only the IGNORE makes an answer.)
# The commands run as background jobs of a script, which start with SIGINT ignored: cnctl catches
# it all the same.
# The same while `proc` waits to write to a pipe that its reader does not empty (a few hundred
# processes' events fill it): SIGTERM ends the wait. With `2>&1 | head -n 1` its notes on stderr
# meet the closed pipe too: ignored, still exit 0 after the IGNORE.
# Against a cnctl without this: SIGINT leaves it running ("did not end within 10 s of SIGINT"),
# SIGTERM kills it (exit status 143), and with `| head -n 1` it exits 2 on EPIPE without IGNORE;
# with both signals blocked during its writes, SIGTERM does not end it while the pipe is full
# ("did not end within 10 s"); with eprintln! it panics on the closed stderr (exit status 101).
. /tests/lib.sh
. /tests/cn.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"
load_peer

watch=/tmp/sig-watch.out
cnctl proc --timeout-ms 600000 >$watch 2>/tmp/sig-watch.err &
watcher=$!

# acks: how many request acknowledgements the watcher has seen.
acks() { grep -c " none err=0 " $watch; }

# wait_for FILE RE [SECS]: waits up to SECS (default 20) for a line of FILE matching RE.
wait_for() {
	_i=0
	until grep -E -q -- "$2" "$1" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -le $((${3:-20} * 5)) ] || return 1
		sleep 0.2
	done
}

# wait_acks N: waits up to 20 s until the watcher has seen N acknowledgements.
wait_acks() {
	_i=0
	until [ "$(acks)" -ge "$1" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || return 1
		sleep 0.2
	done
}

# start_job NAME CMD...: CMD as a background job, its pid in /tmp/NAME.pid, its stdout and
# stderr in /tmp/NAME.out and /tmp/NAME.err, its exit status in /tmp/NAME.rc once it ended.
start_job() {
	_name=$1
	shift
	rm -f /tmp/$_name.pid /tmp/$_name.rc
	(
		"$@" >/tmp/$_name.out 2>/tmp/$_name.err &
		echo $! >/tmp/$_name.pid
		wait $!
		echo $? >/tmp/$_name.rc
	) &
	until [ -s /tmp/$_name.pid ]; do sleep 0.1; done
}

# ended_cleanly NAME WHAT: job NAME ends within 10 s with status 0 and no error line.
ended_cleanly() {
	_i=0
	until [ -s /tmp/$1.rc ]; do
		_i=$((_i + 1))
		[ $_i -le 50 ] || fail "$2: cnctl did not end within 10 s"
		sleep 0.2
	done
	[ "$(cat /tmp/$1.rc)" = 0 ] || fail "$2: exit status $(cat /tmp/$1.rc): $(cat /tmp/$1.err)"
	if grep "^cnctl:" /tmp/$1.err; then fail "$2: an error message"; fi
}

# ignored NAME WHAT ACKS: job NAME sent IGNORE, and the watcher saw its acknowledgement (ACKS).
ignored() {
	grep -q "^sent proc op=2 " /tmp/$1.err || fail "$2: no IGNORE sent: $(cat /tmp/$1.err)"
	wait_acks "$3" || fail "$2: the watcher saw no acknowledgement of the IGNORE ($(acks) of $3)"
}

wait_acks 1 || fail "the watcher's request was not acknowledged: $(cat $watch /tmp/sig-watch.err)"

for sig in INT TERM; do
	before=$(acks)
	start_job proc-$sig cnctl proc --timeout-ms 600000
	wait_for /tmp/proc-$sig.out " none err=0 " || fail "proc (SIG$sig): no acknowledgement"
	wait_acks $((before + 1)) || fail "proc (SIG$sig): the watcher saw no LISTEN"
	kill -$sig "$(cat /tmp/proc-$sig.pid)"
	ended_cleanly proc-$sig "proc, SIG$sig"
	ignored proc-$sig "proc, SIG$sig" $((before + 2))

	start_job listen-$sig cnctl listen --group $CN_IDX --timeout-ms 600000
	wait_for /tmp/listen-$sig.err "^listening group=" || fail "listen (SIG$sig) did not start"
	kill -$sig "$(cat /tmp/listen-$sig.pid)"
	ended_cleanly listen-$sig "listen, SIG$sig"
done

# into_head NAME WHAT [both]: `cnctl proc` piped into `head -n 1` (/tmp/NAME.out), its stderr
# into /tmp/NAME.err or, with `both`, into the pipe too; makes events until cnctl has ended (its
# exit status in /tmp/NAME.rc), at most 10 s.
into_head() {
	rm -f /tmp/$1.rc
	: >/tmp/$1.err
	(
		if [ "${3:-}" = both ]; then
			cnctl proc --timeout-ms 600000 2>&1
		else
			cnctl proc --timeout-ms 600000 2>/tmp/$1.err
		fi
		echo $? >/tmp/$1.rc
	) | head -n 1 >/tmp/$1.out &
	i=0
	until [ -s /tmp/$1.rc ]; do
		i=$((i + 1))
		[ $i -le 50 ] || fail "$2: cnctl did not end within 10 s"
		sh -c true # an event to write
		sleep 0.2
	done
}

# A closed stdout: the first line goes to head, the write of the next one fails with EPIPE.
before=$(acks)
into_head pipe-proc "proc | head"
# (Mostly the acknowledgement of its request; an event of the loop can come first, as cnctl joins
# the group, which the watcher's events reach, before it asks.)
grep -E -q "^proc [0-9.]+ [a-z]+ " /tmp/pipe-proc.out ||
	fail "proc | head: no first line: $(cat /tmp/pipe-proc.out)"
ended_cleanly pipe-proc "proc | head"
ignored pipe-proc "proc | head" $((before + 2))

rm -f /tmp/pipe-listen.rc
(
	cnctl listen --group $CN_IDX --timeout-ms 600000 2>/tmp/pipe-listen.err
	echo $? >/tmp/pipe-listen.rc
) | head -n 1 >/tmp/pipe-listen.out &
# cn_test broadcasts every second: the second broadcast meets the closed pipe.
wait_for /tmp/pipe-listen.rc . 10 || fail "listen | head: cnctl did not end within 10 s"
grep -q "^recv idx=14 " /tmp/pipe-listen.out || fail "listen | head: no first line"
ended_cleanly pipe-listen "listen | head"

# A reader that does not read: once the pipe (64 KiB) is full, cnctl waits to write.
before=$(acks)
rm -f /tmp/full.fifo
mkfifo /tmp/full.fifo || fail "mkfifo failed"
sleep 600 </tmp/full.fifo &
reader=$!
start_job full sh -c 'exec cnctl proc --timeout-ms 600000 >/tmp/full.fifo'
wait_acks $((before + 1)) || fail "proc | no reader: the watcher saw no LISTEN"
# Short processes (fork, exec and exit events each) until their lines are well beyond the pipe's
# size, as the watcher's output shows.
size() { wc -c <$watch; }
start=$(size)
n=0
while [ $(($(size) - start)) -lt 200000 ]; do
	[ $n -lt 3000 ] || fail "proc | no reader: 3000 processes made only $(($(size) - start)) bytes"
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sh -c true; done
	n=$((n + 20))
done
echo "proc | no reader: $n processes, $(($(size) - start)) bytes of events"
sleep 1
[ ! -s /tmp/full.rc ] || fail "proc | no reader: cnctl ended by itself: $(cat /tmp/full.rc /tmp/full.err)"
kill -TERM "$(cat /tmp/full.pid)"
ended_cleanly full "proc | no reader, SIGTERM"
ignored full "proc | no reader, SIGTERM" $((before + 2))
kill $reader
wait $reader
rm -f /tmp/full.fifo

# stdout and stderr on the same pipe, closed after the first line (`sent proc op=1`, a note).
before=$(acks)
into_head pipe-both "proc 2>&1 | head" both
grep -q "^sent proc op=1 " /tmp/pipe-both.out ||
	fail "proc 2>&1 | head: not the first note: $(cat /tmp/pipe-both.out)"
ended_cleanly pipe-both "proc 2>&1 | head"
wait_acks $((before + 2)) ||
	fail "proc 2>&1 | head: the watcher saw no acknowledgement of the IGNORE ($(acks) of $((before + 2)))"

kill $watcher
wait $watcher
