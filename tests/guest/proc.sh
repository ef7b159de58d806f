# Process events helpers for the guest cases (busybox sh), sourced after lib.sh.
#
#   proc_listen NAME MS [OPTIONS]  `cnctl proc --timeout-ms MS OPTIONS` in the background, its
#                                events in /tmp/NAME.out, its stderr in /tmp/NAME.err
#   proc_requested NAME [N]      wait (up to 10 s) until listener NAME has sent N requests
#                                (default 1)

proc_listen() {
	_name=$1
	_ms=$2
	shift 2
	cnctl proc --timeout-ms "$_ms" "$@" >/tmp/$_name.out 2>/tmp/$_name.err &
}

proc_requested() {
	_i=0
	until [ "$(grep -c '^sent proc op=' /tmp/$1.err)" -ge "${2:-1}" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || fail "listener $1 sent no request"
		sleep 0.1
	done
}
