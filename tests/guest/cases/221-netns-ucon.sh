# The kernel's userspace sample ucon (samples/connector/ucon.c, built from the unpacked kernel
# source) against each connector and peer. In the initial network namespace it joins every group
# and prints the peer's timer broadcasts exactly as with the in-tree connector: consecutive
# "[e.457] [SEQ.00000000]" lines. Started in a network namespace of its own (`unshare -n`) at the
# same time, it prints nothing: broadcasts of the initial namespace do not reach other
# namespaces, with any connector (the in-tree one has no socket there; ours has one, where
# nothing is broadcast).
# configs: rust c cpeer
. /tests/lib.sh
. /tests/adv.sh
load_core
load_peer
rm -f /tmp/ucon.*
ucon /tmp/ucon.host >/tmp/ucon.host.log 2>&1 &
host=$!
unshare -n ucon /tmp/ucon.ns >/tmp/ucon.ns.log 2>&1 &
ns=$!
line='^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4} : \[e\.457\] \[[0-9]{8}\.00000000\]\.$'
_i=0
until [ "$(grep -E -c "$line" /tmp/ucon.host 2>/dev/null)" -ge 3 ]; do
	_i=$((_i + 1))
	[ $_i -le 150 ] || fail "ucon got no 3 timer broadcasts in 15 s: $(cat /tmp/ucon.host /tmp/ucon.host.log 2>&1)"
	sleep 0.1
done
# A ucon whose socket or bind failed has ended (perror on its stderr).
kill -0 $ns 2>/dev/null || fail "ucon in the network namespace ended: $(cat /tmp/ucon.ns.log)"
kill $host $ns
wait
echo "---- ucon, initial namespace"
cat /tmp/ucon.host
grep -E -v -q "$line" /tmp/ucon.host && fail "ucon printed a line of another form"
seqs=$(sed -n 's/.*\[e\.457\] \[0*\([0-9][0-9]*\)\.00000000\]\.$/\1/p' /tmp/ucon.host | tr '\n' ' ')
echo "$seqs" | awk '{ for (i = 2; i <= NF; i++) if ($i != $(i - 1) + 1) exit 1 }' ||
	fail "the broadcasts' sequence numbers are not consecutive: $seqs"
echo "---- ucon, network namespace of its own"
[ ! -s /tmp/ucon.ns ] || fail "ucon in a network namespace of its own got messages: $(cat /tmp/ucon.ns)"
