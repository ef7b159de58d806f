# Event filters, with the rules of the C cn_filter(): listeners with different masks at once each
# get exactly their events of the children started after all their requests
# (PROC_EVENT_NONZERO_EXIT only the exits with a non-zero code; before its request a socket in
# the group gets everything, as in C); a filtered listener gets no acknowledgement; a legacy
# 4-byte LISTEN gets everything; after IGNORE nothing arrives any more; an unknown operation is
# answered with EINVAL.
. /tests/lib.sh
. /tests/proc.sh
load_core
insmod /modules/cn_proc_example.ko || fail "insmod cn_proc_example.ko failed"

FORK=0x1
EXIT=0x80000000
NONZERO_EXIT=0x20000000

# Alone, a filtered listener gets only its events: no acknowledgement.
cnctl proc --filter $FORK --timeout-ms 1500 >/tmp/lone.out 2>&1 || fail "lone listener failed"
cat /tmp/lone.out
grep -q "^proc .* none " /tmp/lone.out && fail "a filtered listener got the acknowledgement"
grep "^proc " /tmp/lone.out | grep -v -q " fork " && fail "a FORK listener got another event"

proc_listen all 10000
proc_listen fork 10000 --filter $FORK
proc_listen exit 10000 --filter $EXIT
proc_listen nonzero 10000 --filter $NONZERO_EXIT
proc_listen nonzero_fork 10000 --filter $((NONZERO_EXIT | FORK))
proc_listen legacy 10000 --legacy
proc_listen ignoring 10000 --ignore-after-ms 4000
for name in all fork exit nonzero nonzero_fork legacy ignoring; do proc_requested $name; done

sh -c 'exit 3' &
bad=$!
wait $bad
sh -c 'exit 0' &
good=$!
wait $good
# After `ignoring` has sent its IGNORE.
proc_requested ignoring 2
sh -c 'exit 5' &
late=$!
wait $late

out=$(cnctl proc --op 3 --timeout-ms 1000)
echo "$out"
echo "$out" | grep -E -q "^proc [0-9.]+ none err=22 ack=1 " || fail "unknown operation not answered EINVAL"

wait
for name in all fork exit nonzero nonzero_fork legacy ignoring; do
	echo "---- $name"
	cat /tmp/$name.out
done

# has NAME RE / hasnt NAME RE: listener NAME got / did not get an event matching RE.
has() { grep -E -q -- "$2" /tmp/$1.out || fail "$1: no event matching '$2'"; }
hasnt() { ! grep -E -q -- "$2" /tmp/$1.out || fail "$1: unexpected event matching '$2'"; }
# only NAME RE: every event of listener NAME about a child matches RE.
only() {
	! grep -E " (child_)?pid=($bad|$good|$late) " /tmp/$1.out | grep -E -v -q -- "$2" ||
		fail "$1: got an event not matching '$2'"
}
forked() { echo " fork .* child_pid=$1 "; }
exited() { echo " exit pid=$1 tgid=$1 exit_code=$2 "; }

for name in all legacy; do
	has $name " none err=0 ack=1 "
	for pid in $bad $good $late; do
		has $name "$(forked $pid)"
		has $name " exec pid=$pid "
	done
	has $name "$(exited $bad 768)"
	has $name "$(exited $good 0)"
	has $name "$(exited $late 1280)"
done

only fork " fork "
has fork "$(forked $bad)"
has fork "$(forked $good)"

only exit " exit "
has exit "$(exited $bad 768)"
has exit "$(exited $good 0)"

only nonzero " exit pid=[0-9]+ tgid=[0-9]+ exit_code=[1-9]"
has nonzero "$(exited $bad 768)"
hasnt nonzero " pid=$good "

only nonzero_fork " (fork|exit pid=[0-9]+ tgid=[0-9]+ exit_code=[1-9])"
has nonzero_fork "$(forked $good)"
has nonzero_fork "$(exited $bad 768)"
hasnt nonzero_fork "$(exited $good 0)"

has ignoring "$(exited $good 0)"
for re in "$(forked $late)" " pid=$late "; do hasnt ignoring "$re"; done
