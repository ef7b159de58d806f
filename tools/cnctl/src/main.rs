//! cnctl: userspace test tool for the kernel connector (NETLINK_CONNECTOR),
//! the counterpart of samples/connector/ucon.c.

/// Writes one line to stderr like `eprintln!`, but never panics (a closed stderr is ignored) and
/// lets SIGINT and SIGTERM end a write that waits for room (see [`output::note`]).
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note(format_args!($($arg)*))
    };
}

mod bench;
mod cli;
mod errors;
mod fuzz;
mod output;
mod signals;
mod wire;

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_CONNECTOR, Socket, SocketAddr};

use cli::{
    BindOpts, Command, Early, FloodOpts, FuzzOpts, InsmodOpts, ListenOpts, NotifyOpts, ProcOpts,
    RawOpts, SendOpts,
};
use errors::{Ctx, Fatal};
use output::{Printer, Record};
use wire::{NlItem, ProcEvent};

/// Exit codes.
const EXIT_OK: u8 = 0;
const EXIT_TIMEOUT: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_USAGE: u8 = 64;

/// Receive buffer: larger than any connector message (16 KiB max data).
const RECV_BUF_LEN: usize = 128 * 1024;

/// How long `send --nl-ack` and `notify --nl-ack` wait for the ack.
const SEND_ACK_WAIT: Duration = Duration::from_millis(2000);
/// How long `raw --nl-ack` waits for the ack.
const RAW_ACK_WAIT: Duration = Duration::from_millis(1000);

type Res<T> = Result<T, Fatal>;

/// The error of a write to stdout.
fn stdout_error(e: io::Error) -> Fatal {
    Fatal(format!("writing to stdout: {e}"))
}

/// Print one line to stdout and flush it at once.
fn emit(line: &str) -> Res<()> {
    output::write_line(line).map_err(stdout_error)
}

/// Print a record with `printer`; any failure to write is fatal.
fn print(printer: &Printer, record: &Record) -> Res<()> {
    printer.print(record).map_err(stdout_error)
}

/// Print a record in a receive loop (listen, proc). Returns whether to go on: a closed stdout
/// (EPIPE) and SIGINT or SIGTERM during a write that waits for room end the loop cleanly; other
/// write errors are fatal.
fn print_in_loop(printer: &Printer, record: &Record) -> Res<bool> {
    match printer.print(record) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe || signals::is_stopped(&e) => Ok(false),
        Err(e) => Err(stdout_error(e)),
    }
}

/// Report on stderr why a command ends with a failure exit code other than an error's.
fn report(what: &str) {
    note!("cnctl: {what}");
}

/// Note something unusual on stderr (not part of the tested output).
fn note_item(item: &NlItem) {
    match item {
        NlItem::Cn(m) => note!("ignored: {}", m.recv_line()),
        NlItem::Ack { error, .. } => note!("ignored: nlack error={error}"),
        NlItem::Other { nl_type, len } => {
            note!("ignored: netlink message type={nl_type} len={len}")
        }
        NlItem::Malformed { offset, remaining } => {
            note!("ignored: malformed netlink data at offset {offset} ({remaining} bytes)")
        }
    }
}

/// A bound NETLINK_CONNECTOR socket.
struct Conn {
    sock: Socket,
    buf: Vec<u8>,
    /// Whether a receive buffer overrun (ENOBUFS: messages lost) is only
    /// noted on stderr instead of ending the program.
    lossy: bool,
}

/// `--make-it-fail`: set the flag once the socket is open (see [`make_it_fail`]).
static MAKE_IT_FAIL_AFTER_OPEN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl Conn {
    fn open() -> Res<Conn> {
        let mut sock = Socket::new(NETLINK_CONNECTOR).map_err(|e| Fatal::io(&e, Ctx::Socket))?;
        sock.bind_auto().map_err(|e| Fatal::io(&e, Ctx::Bind))?;
        if MAKE_IT_FAIL_AFTER_OPEN.swap(false, std::sync::atomic::Ordering::Relaxed) {
            make_it_fail()?;
        }
        Ok(Conn {
            sock,
            buf: vec![0; RECV_BUF_LEN],
            lossy: false,
        })
    }

    /// Join a connector group (1-based netlink group number).
    fn join(&self, group: u32) -> Res<()> {
        self.sock
            .add_membership(group)
            .map_err(|e| Fatal::io(&e, Ctx::Join(group)))
    }

    /// Send one datagram to the kernel (port id 0, no groups).
    fn send_kernel(&self, bytes: &[u8]) -> io::Result<usize> {
        self.sock.send_to(bytes, &SocketAddr::new(0, 0), 0)
    }

    /// Read and drop every datagram waiting in the receive queue, without
    /// blocking. Returns (datagrams read, receive buffer overruns seen).
    fn drain(&mut self) -> Res<(u64, u64)> {
        let (mut read, mut overruns) = (0, 0);
        loop {
            let mut slice = &mut self.buf[..];
            match self
                .sock
                .recv(&mut slice, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
            {
                Ok(_) => read += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((read, overruns)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => overruns += 1,
                Err(e) => return Err(Fatal::io(&e, Ctx::Recv)),
            }
        }
    }

    /// Wait for one datagram until `deadline` (`None`: forever).
    /// Returns `Ok(None)` when the wait ends without one: at the deadline, or when SIGINT or
    /// SIGTERM asked to stop ([`signals::stop_requested`]); else the messages it carried.
    fn recv_until(&mut self, deadline: Option<Instant>) -> Res<Option<Vec<NlItem>>> {
        loop {
            if signals::stop_requested() {
                return Ok(None);
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(libc::timespec {
                        tv_sec: left.as_secs() as libc::time_t,
                        tv_nsec: libc::c_long::from(left.subsec_nanos()),
                    })
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // With the mask of `signals`, SIGINT and SIGTERM can come only during this wait.
            // SAFETY: pfd, the timeout and the mask are valid for the duration of the call.
            let r = unsafe {
                libc::ppoll(
                    &mut pfd,
                    1,
                    timeout.as_ref().map_or(std::ptr::null(), |t| t as *const _),
                    signals::wait_mask().map_or(std::ptr::null(), |m| m as *const _),
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Fatal::io(&e, Ctx::Recv));
            }
            if r == 0 {
                continue; // the deadline check above decides
            }
            let mut slice = &mut self.buf[..];
            match self
                .sock
                .recv(&mut slice, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
            {
                Ok(n) => {
                    let got = n.min(self.buf.len());
                    if n > got {
                        note!("warning: datagram of {n} bytes truncated to {got}");
                    }
                    return Ok(Some(wire::parse_datagram(&self.buf[..got])));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) =>
                {
                    continue
                }
                Err(e) if self.lossy && e.raw_os_error() == Some(libc::ENOBUFS) => {
                    note!("warning: {}", Fatal::io(&e, Ctx::Recv).0);
                    continue;
                }
                Err(e) => return Err(Fatal::io(&e, Ctx::Recv)),
            }
        }
    }
}

/// setgroups/setgid/setuid to `uid` (used as both uid and gid).
fn drop_privileges(uid: u32) -> Res<()> {
    let fail = |what: &str| {
        let e = io::Error::last_os_error();
        Fatal(format!(
            "{} [{what}({uid})]",
            errors::describe_errno(e.raw_os_error().unwrap_or(0), Ctx::Creds)
        ))
    };
    // SAFETY: plain system calls with integer arguments (and a null list
    // of zero supplementary groups); the program is single-threaded.
    unsafe {
        if libc::geteuid() == 0 && libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(fail("setgroups"));
        }
        if libc::setgid(uid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail("setuid"));
        }
        if libc::getuid() != uid || libc::geteuid() != uid {
            return Err(Fatal(format!("--as-uid {uid}: uid did not change")));
        }
    }
    Ok(())
}

/// Let SIGINT and SIGTERM end the receive loop of `listen` or `proc` (see [`signals`]).
fn catch_stop_signals() -> Res<()> {
    signals::catch_stop_signals().map_err(|e| Fatal(format!("catching SIGINT and SIGTERM: {e}")))
}

/// How a receive loop (listen, proc) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The count was reached, or the time was up without a count.
    Done,
    /// The time was up before the count.
    TimedOut,
    /// SIGINT, SIGTERM or a closed stdout.
    Stopped,
}

impl End {
    /// The exit code: only a count not reached fails.
    fn exit_code(self) -> u8 {
        match self {
            End::Done | End::Stopped => EXIT_OK,
            End::TimedOut => EXIT_TIMEOUT,
        }
    }
}

/// How a wait of a receive loop ended without a datagram, for a loop that receives `count`
/// messages (if given) and has `received` of them.
fn wait_ended(count: Option<u64>, received: u64) -> End {
    if signals::stop_requested() {
        return End::Stopped;
    }
    match count {
        Some(n) => {
            report(&format!("timeout: received {received} of {n}"));
            End::TimedOut
        }
        None => End::Done,
    }
}

fn cmd_listen(o: &ListenOpts) -> Res<u8> {
    catch_stop_signals()?;
    let printer = Printer::new(&o.output);
    let mut conn = Conn::open()?;
    conn.join(o.group)?;
    note!("listening group={}", o.group);
    Ok(listen_loop(o, &printer, &mut conn)?.exit_code())
}

/// Receive and print the messages of `listen` until one of its ends.
fn listen_loop(o: &ListenOpts, printer: &Printer, conn: &mut Conn) -> Res<End> {
    let deadline = o
        .timeout_ms
        .map(|t| Instant::now() + Duration::from_millis(t));
    let mut received: u64 = 0;
    loop {
        if o.count == Some(received) {
            return Ok(End::Done);
        }
        let Some(items) = conn.recv_until(deadline)? else {
            return Ok(wait_ended(o.count, received));
        };
        for item in items {
            let NlItem::Cn(m) = item else {
                note_item(&item);
                continue;
            };
            if o.match_idx.is_some_and(|i| i != m.idx) || o.match_val.is_some_and(|v| v != m.val) {
                continue;
            }
            if !print_in_loop(printer, &Record::Recv(&m))? {
                return Ok(End::Stopped);
            }
            received += 1;
            if o.count == Some(received) {
                return Ok(End::Done);
            }
        }
    }
}

/// State of something `send` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    NotAsked,
    Pending(Instant),
    Done,
    TimedOut,
    /// The kernel answered the request with a netlink error.
    Rejected(i32),
}

impl Wait {
    fn new(asked: bool, start: Instant, within: Duration) -> Wait {
        if asked {
            Wait::Pending(start + within)
        } else {
            Wait::NotAsked
        }
    }

    fn pending(self) -> Option<Instant> {
        match self {
            Wait::Pending(d) => Some(d),
            _ => None,
        }
    }

    fn expire(&mut self, now: Instant) {
        if let Wait::Pending(d) = *self {
            if now >= d {
                *self = Wait::TimedOut;
            }
        }
    }
}

fn sent_line(idx: u32, val: u32, seq: u32, ack: u32, len: usize) {
    note!("sent idx={idx} val={val} seq={seq} ack={ack} len={len}");
}

fn cmd_send(o: &SendOpts) -> Res<u8> {
    let printer = Printer::new(&o.output);
    let mut conn = Conn::open()?;
    if let Some(g) = o.group {
        conn.join(g)?;
    }
    let nl_flags = if o.nl_ack { wire::NLM_F_ACK } else { 0 };
    let data = o.payload();
    let msg = wire::encode_cn_request(o.idx, o.val, o.seq, o.ack, o.flags, &data, nl_flags)
        .ok_or_else(|| Fatal("data too long for a connector message".into()))?;
    conn.send_kernel(&msg)
        .map_err(|e| Fatal::io(&e, Ctx::Send))?;
    sent_line(o.idx, o.val, o.seq, o.ack, data.len());

    let start = Instant::now();
    let mut ack = Wait::new(o.nl_ack, start, SEND_ACK_WAIT);
    let mut reply = Wait::new(
        o.reply_timeout_ms.is_some(),
        start,
        Duration::from_millis(o.reply_timeout_ms.unwrap_or(0)),
    );
    let want_ack = o.ack.wrapping_add(1);
    loop {
        let now = Instant::now();
        ack.expire(now);
        reply.expire(now);
        // Wake up at the earlier deadline so that each expires on time.
        let Some(wake) = [ack.pending(), reply.pending()].into_iter().flatten().min() else {
            break;
        };
        let Some(items) = conn.recv_until(Some(wake))? else {
            continue;
        };
        for item in items {
            match item {
                NlItem::Ack { error, .. } => {
                    print(&printer, &Record::Nlack(error))?;
                    if ack.pending().is_some() {
                        ack = Wait::Done;
                    }
                    if error != 0 && reply.pending().is_some() {
                        reply = Wait::Rejected(error);
                    }
                }
                NlItem::Cn(m) => {
                    let is_reply =
                        m.idx == o.idx && m.val == o.val && m.seq == o.seq && m.ack == want_ack;
                    if is_reply && reply.pending().is_some() {
                        print(&printer, &Record::Recv(&m))?;
                        reply = Wait::Done;
                    } else if o.group.is_some() {
                        // broadcasts asked for with --group
                        print(&printer, &Record::Recv(&m))?;
                    } else {
                        note_item(&NlItem::Cn(m));
                    }
                }
                other => note_item(&other),
            }
        }
    }
    let mut code = EXIT_OK;
    if ack == Wait::TimedOut {
        report("timeout: no netlink ack");
        code = EXIT_TIMEOUT;
    }
    match reply {
        Wait::TimedOut => {
            report("timeout: no reply");
            code = EXIT_TIMEOUT;
        }
        Wait::Rejected(e) => {
            report(&format!(
                "no reply: the kernel answered with netlink error={e}"
            ));
            code = EXIT_TIMEOUT;
        }
        _ => {}
    }
    Ok(code)
}

/// Wait up to `within` for an NLMSG_ERROR and print it.
/// Connector messages arriving meanwhile are printed if `print_cn`.
fn wait_nl_ack(conn: &mut Conn, printer: &Printer, within: Duration, print_cn: bool) -> Res<bool> {
    let deadline = Instant::now() + within;
    loop {
        let Some(items) = conn.recv_until(Some(deadline))? else {
            report("timeout: no netlink ack");
            return Ok(false);
        };
        let mut got = false;
        for item in items {
            match item {
                NlItem::Ack { error, .. } => {
                    print(printer, &Record::Nlack(error))?;
                    got = true;
                }
                NlItem::Cn(m) if print_cn => print(printer, &Record::Recv(&m))?,
                other => note_item(&other),
            }
        }
        if got {
            return Ok(true);
        }
    }
}

fn cmd_raw(o: &RawOpts) -> Res<u8> {
    let mut conn = Conn::open()?;
    let bytes = &o.hex.0;
    conn.send_kernel(bytes)
        .map_err(|e| Fatal::io(&e, Ctx::Send))?;
    note!("sent raw len={}", bytes.len());
    if !o.nl_ack {
        return Ok(EXIT_OK);
    }
    let printer = Printer::new(&o.output);
    Ok(if wait_nl_ack(&mut conn, &printer, RAW_ACK_WAIT, false)? {
        EXIT_OK
    } else {
        EXIT_TIMEOUT
    })
}

fn cmd_flood(o: &FloodOpts) -> Res<u8> {
    let mut conn = Conn::open()?;
    let (mut sent, mut errors, mut replies) = (0u64, 0u64, 0u64);
    let mut first_error: Option<io::Error> = None;
    let data = o.data.as_ref().map_or(&[][..], |d| &d.0[..]);
    let start = Instant::now();
    for i in 0..o.count {
        let seq = i as u32; // wraps past 2^32 messages
        let msg = wire::encode_cn_request(o.idx, o.val, seq, 0, 0, data, 0)
            .ok_or_else(|| Fatal("data too long for a connector message".into()))?;
        match conn.send_kernel(&msg) {
            Ok(_) => sent += 1,
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
                continue;
            }
        }
        if o.reply {
            if !wait_reply(&mut conn, o.idx, o.val, seq, FLOOD_REPLY_WAIT)? {
                report(&format!("timeout: no reply to seq={seq}"));
                break;
            }
            replies += 1;
        }
    }
    let elapsed = start.elapsed().as_nanos();
    if let Some(e) = first_error {
        note!("first error: {}", Fatal::io(&e, Ctx::Send).0);
    }
    let mut line = format!("flood sent={sent} errors={errors}");
    if o.reply {
        let per = elapsed / u128::from(replies.max(1));
        line += &format!(" replies={replies} elapsed_ns={elapsed} ns_per_round_trip={per}");
    }
    emit(&line)?;
    Ok(if o.reply && replies < o.count {
        EXIT_TIMEOUT
    } else {
        EXIT_OK
    })
}

/// How long `flood --reply` waits for each reply.
const FLOOD_REPLY_WAIT: Duration = Duration::from_secs(2);

/// Waits up to `within` for the reply to message `seq` (same id, `ack` 1); other messages are
/// dropped.
fn wait_reply(conn: &mut Conn, idx: u32, val: u32, seq: u32, within: Duration) -> Res<bool> {
    let deadline = Instant::now() + within;
    while let Some(items) = conn.recv_until(Some(deadline))? {
        let is_reply = |m: &wire::CnMsg| m.idx == idx && m.val == val && m.seq == seq && m.ack == 1;
        if items
            .iter()
            .any(|item| matches!(item, NlItem::Cn(m) if is_reply(m)))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn cmd_bind(o: &BindOpts) -> Res<u8> {
    let conn = Conn::open()?;
    conn.join(o.group)?;
    let printer = Printer {
        json: o.json,
        clock: None,
    };
    print(&printer, &Record::Bind(o.group))?;
    Ok(EXIT_OK)
}

fn cmd_notify(o: &NotifyOpts) -> Res<u8> {
    let printer = Printer::new(&o.output);
    let mut conn = Conn::open()?;
    let data = wire::encode_ctl_msg(o.add.unwrap_or(0), &o.idx.0, &o.val.0);
    let nl_flags = if o.nl_ack { wire::NLM_F_ACK } else { 0 };
    let msg = wire::encode_cn_request(o.ctl_idx, o.ctl_val, 0, 0, 0, &data, nl_flags)
        .ok_or_else(|| Fatal("control message too long".into()))?;
    conn.send_kernel(&msg)
        .map_err(|e| Fatal::io(&e, Ctx::Send))?;
    sent_line(o.ctl_idx, o.ctl_val, 0, 0, data.len());
    if o.nl_ack && !wait_nl_ack(&mut conn, &printer, SEND_ACK_WAIT, o.listen_ms.is_some())? {
        return Ok(EXIT_TIMEOUT);
    }
    let (Some(group), Some(ms)) = (o.add, o.listen_ms) else {
        return Ok(EXIT_OK);
    };
    conn.join(group)?;
    note!("listening group={group}");
    let deadline = Instant::now() + Duration::from_millis(ms);
    while let Some(items) = conn.recv_until(Some(deadline))? {
        for item in items {
            match item {
                NlItem::Cn(m) => print(&printer, &Record::Recv(&m))?,
                NlItem::Ack { error, .. } => print(&printer, &Record::Nlack(error))?,
                other => note_item(&other),
            }
        }
    }
    Ok(EXIT_OK)
}

/// Send a request to the process events connector.
fn send_proc_request(conn: &Conn, op: u32, events: u32, legacy: bool) -> Res<()> {
    let data = wire::encode_proc_input(op, events, legacy);
    let msg = wire::encode_cn_request(wire::CN_IDX_PROC, wire::CN_VAL_PROC, 0, 0, 0, &data, 0)
        .ok_or_else(|| Fatal("proc request too long".into()))?;
    conn.send_kernel(&msg)
        .map_err(|e| Fatal::io(&e, Ctx::Send))?;
    if legacy {
        note!("sent proc op={op} (legacy)");
    } else {
        note!("sent proc op={op} events={events:#x}");
    }
    Ok(())
}

/// The name of process (or thread) `pid` from /proc/PID/comm, if it is still there.
fn process_name(pid: i32) -> Option<Vec<u8>> {
    let mut name = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    if name.last() == Some(&b'\n') {
        name.pop();
    }
    Some(name)
}

fn cmd_proc(o: &ProcOpts) -> Res<u8> {
    catch_stop_signals()?;
    let printer = Printer::new(&o.output);
    let mut conn = Conn::open()?;
    conn.lossy = true;
    conn.join(wire::CN_IDX_PROC)?;
    send_proc_request(&conn, o.op, o.filter, o.legacy)?;
    let mut ignored = false;
    let end = proc_loop(o, &printer, &mut conn, &mut ignored)?;
    // Only a listener stops listening: after another operation an IGNORE
    // would count off a listener that never was (as the C connector counts).
    if !ignored && o.op == wire::PROC_CN_MCAST_LISTEN {
        send_proc_request(&conn, wire::PROC_CN_MCAST_IGNORE, o.filter, o.legacy)?;
    }
    Ok(end.exit_code())
}

/// Receive and print the events of `proc` until one of its ends; sets `ignored` when
/// `--ignore-after-ms` sent the IGNORE.
fn proc_loop(o: &ProcOpts, printer: &Printer, conn: &mut Conn, ignored: &mut bool) -> Res<End> {
    let start = Instant::now();
    let deadline = o.timeout_ms.map(|t| start + Duration::from_millis(t));
    let mut ignore_at = o.ignore_after_ms.map(|t| start + Duration::from_millis(t));
    let mut received: u64 = 0;
    loop {
        if o.count == Some(received) {
            return Ok(End::Done);
        }
        if ignore_at.is_some_and(|at| Instant::now() >= at) {
            send_proc_request(conn, wire::PROC_CN_MCAST_IGNORE, o.filter, o.legacy)?;
            ignore_at = None;
            *ignored = true;
        }
        let wake = [deadline, ignore_at].into_iter().flatten().min();
        let Some(items) = conn.recv_until(wake)? else {
            if signals::stop_requested() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(wait_ended(o.count, received));
            }
            continue;
        };
        for item in items {
            let NlItem::Cn(m) = item else {
                note_item(&item);
                continue;
            };
            let event = (m.idx == wire::CN_IDX_PROC && m.val == wire::CN_VAL_PROC)
                .then(|| ProcEvent::parse(&m.data))
                .flatten();
            let Some(event) = event else {
                note_item(&NlItem::Cn(m));
                continue;
            };
            let name = o
                .resolve
                .then(|| event.data.subject_pid())
                .flatten()
                .and_then(process_name);
            let record = Record::Proc {
                event: &event,
                msg: &m,
                name: name.as_deref(),
            };
            if !print_in_loop(printer, &record)? {
                return Ok(End::Stopped);
            }
            if !event.is_ack() {
                received += 1;
                if o.count == Some(received) {
                    return Ok(End::Done);
                }
            }
        }
    }
}

/// How often `fuzz` drains what comes back (acks, replies, errors).
const FUZZ_DRAIN_EVERY: u64 = 8;
/// How often `fuzz` notes its progress on stderr.
const FUZZ_PROGRESS_EVERY: u64 = 100_000;

/// Errors of `sendmsg` that `fuzz` counts and goes on after: the kernel
/// refusing a datagram (EINVAL, EMSGSIZE, EPERM; ENODATA: netlink refuses
/// a zero-length datagram), lacking memory or buffer space
/// (ENOMEM, ENOBUFS, EAGAIN; also under fault injection), a signal.
fn fuzz_error_is_expected(errno: i32) -> bool {
    matches!(
        errno,
        libc::EAGAIN
            | libc::ENOBUFS
            | libc::EPERM
            | libc::EINVAL
            | libc::EMSGSIZE
            | libc::ENODATA
            | libc::ENOMEM
            | libc::EINTR
    )
}

fn cmd_fuzz(o: &FuzzOpts) -> Res<u8> {
    let mut conn = Conn::open()?;
    conn.sock
        .set_non_blocking(true)
        .map_err(|e| Fatal::io(&e, Ctx::Socket))?;
    let mut gen = fuzz::Generator::new(o.seed, o.batch_max);
    let (mut messages, mut bytes, mut send_errors) = (0u64, 0u64, 0u64);
    let (mut replies, mut overruns) = (0u64, 0u64);
    let mut by_errno: std::collections::BTreeMap<i32, u64> = Default::default();
    let start = Instant::now();
    for i in 1..=o.count {
        let d = gen.next_datagram();
        messages += u64::from(d.messages);
        bytes += d.bytes.len() as u64;
        if let Err(e) = conn.send_kernel(&d.bytes) {
            let errno = e.raw_os_error().unwrap_or(0);
            if !fuzz_error_is_expected(errno) {
                return Err(Fatal(format!(
                    "datagram {i} of seed {}: {}",
                    o.seed,
                    Fatal::io(&e, Ctx::Send).0
                )));
            }
            send_errors += 1;
            *by_errno.entry(errno).or_default() += 1;
        }
        if i % FUZZ_DRAIN_EVERY == 0 || i == o.count {
            let (r, v) = conn.drain()?;
            replies += r;
            overruns += v;
        }
        if i % FUZZ_PROGRESS_EVERY == 0 && i < o.count {
            note!("fuzz: {i} datagrams in {} ms", start.elapsed().as_millis());
        }
    }
    let ms = start.elapsed().as_millis();
    let errnos: Vec<String> = by_errno
        .iter()
        .map(|(e, n)| format!("{}={n}", errors::errno_name(*e).unwrap_or("?")))
        .collect();
    note!(
        "fuzz: replies={replies} overruns={overruns} elapsed_ms={ms} datagrams_per_s={} \
         send-errors-by-errno: {}",
        u128::from(o.count) * 1000 / ms.max(1),
        if errnos.is_empty() {
            "none".to_string()
        } else {
            errnos.join(" ")
        }
    );
    emit(&format!(
        "fuzz: seed={} datagrams={} messages={messages} bytes={bytes} send-errors={send_errors}",
        o.seed, o.count
    ))?;
    Ok(EXIT_OK)
}

/// Open a file of /proc for reading and writing (raw fd, closed on drop).
fn open_proc(path: &std::ffi::CStr) -> Res<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: a valid C string; the returned descriptor is owned here.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(Fatal(format!(
            "{}: {} (a kernel with CONFIG_FAULT_INJECTION and /proc mounted is needed)",
            path.to_string_lossy(),
            errors::describe_errno(e.raw_os_error().unwrap_or(0), Ctx::FaultInjection)
        )));
    }
    // SAFETY: fd was just opened and is not owned elsewhere.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Write `text` to an open /proc file at offset 0.
fn proc_write(fd: &std::os::fd::OwnedFd, text: &[u8]) -> io::Result<()> {
    // SAFETY: the buffer is valid for text.len() bytes.
    let r = unsafe { libc::pwrite(fd.as_raw_fd(), text.as_ptr().cast(), text.len(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Read an unsigned number from an open /proc file.
fn proc_read_u32(fd: &std::os::fd::OwnedFd) -> Res<u32> {
    let mut buf = [0u8; 32];
    // SAFETY: the buffer is valid for its length.
    let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return Err(Fatal::io(&e, Ctx::FaultInjection));
    }
    let text = String::from_utf8_lossy(&buf[..n as usize]);
    text.trim()
        .parse()
        .map_err(|_| Fatal(format!("fail-nth: unexpected contents '{}'", text.trim())))
}

fn cmd_insmod(o: &InsmodOpts) -> Res<u8> {
    use std::ffi::CString;
    let file = std::fs::File::open(&o.file).map_err(|e| {
        Fatal(format!(
            "{}: {}",
            o.file,
            errors::describe_errno(e.raw_os_error().unwrap_or(0), Ctx::Module)
        ))
    })?;
    let params = CString::new(o.params.join(" "))
        .map_err(|_| Fatal("insmod: a parameter contains a NUL byte".into()))?;
    // Everything is prepared before fail-nth is armed: from the write on,
    // every slab allocation of this thread counts, so nothing but the load
    // itself may run in between.
    let fail_nth = match o.fail_nth {
        Some(n) => Some((open_proc(c"/proc/thread-self/fail-nth")?, n.to_string())),
        None => None,
    };
    if let Some((fd, n)) = &fail_nth {
        proc_write(fd, n.as_bytes()).map_err(|e| Fatal::io(&e, Ctx::FaultInjection))?;
    }
    // SAFETY: a valid descriptor and C string; flags 0.
    let r = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    let result = if r < 0 {
        -io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    };
    // What is left of the count: 0 if the N-th allocation came (and failed),
    // else N minus the allocations the load made. Read before anything else
    // (even a heap allocation here can make a system call that allocates).
    let mut injected = None;
    if let Some((fd, n)) = &fail_nth {
        let left = proc_read_u32(fd)?;
        if left != 0 {
            // Disarm, so that nothing after the load fails by surprise.
            proc_write(fd, b"0").map_err(|e| Fatal::io(&e, Ctx::FaultInjection))?;
        }
        injected = Some((n, if left == 0 { "yes" } else { "no" }));
    }
    let mut line = String::from("insmod:");
    if let Some((n, yes_no)) = injected {
        line += &format!(" fail-nth={n} injected={yes_no}");
    }
    line += &format!(" result={result}");
    emit(&line)?;
    if result != 0 {
        report(&format!(
            "insmod {}: {}",
            o.file,
            errors::describe_errno(-result, Ctx::Module)
        ));
    }
    Ok(if result == 0 { EXIT_OK } else { EXIT_TIMEOUT })
}

fn cmd_rmmod(name: &str) -> Res<u8> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| Fatal("rmmod: the name contains a NUL byte".into()))?;
    // SAFETY: a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, cname.as_ptr(), libc::O_NONBLOCK) };
    let result = if r < 0 {
        -io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    };
    emit(&format!("rmmod: {name} result={result}"))?;
    if result != 0 {
        report(&format!(
            "rmmod {name}: {}",
            errors::describe_errno(-result, Ctx::Module)
        ));
    }
    Ok(if result == 0 { EXIT_OK } else { EXIT_TIMEOUT })
}

/// Sets /proc/thread-self/make-it-fail: from now on, with failslab's
/// task-filter, this thread's allocations may fail.
fn make_it_fail() -> Res<()> {
    let fd = open_proc(c"/proc/thread-self/make-it-fail")?;
    proc_write(&fd, b"1").map_err(|e| Fatal::io(&e, Ctx::FaultInjection))
}

fn run(cli: &cli::Cli) -> Res<u8> {
    if cli.make_it_fail {
        // Commands with a socket set the flag once it is open and bound, so that the faults
        // fall on the messages and what the kernel does with them, not mostly on creating the
        // socket. Writing the flag needs CAP_SYS_RESOURCE at the time of the write: with
        // --as-uid it is set now, before the privileges go. `bench` opens its sockets on
        // several threads: the flag is set now (new threads inherit it).
        let socket = !matches!(
            cli.cmd,
            Command::Insmod(_) | Command::Rmmod(_) | Command::Bench(_)
        );
        if socket && cli.as_uid.is_none() {
            MAKE_IT_FAIL_AFTER_OPEN.store(true, std::sync::atomic::Ordering::Relaxed);
        } else {
            make_it_fail()?;
        }
    }
    if let Some(uid) = cli.as_uid {
        drop_privileges(uid)?;
    }
    match &cli.cmd {
        Command::Listen(o) => cmd_listen(o),
        Command::Send(o) => cmd_send(o),
        Command::Raw(o) => cmd_raw(o),
        Command::Flood(o) => cmd_flood(o),
        Command::Bind(o) => cmd_bind(o),
        Command::Notify(o) => cmd_notify(o),
        Command::Proc(o) => cmd_proc(o),
        Command::Fuzz(o) => cmd_fuzz(o),
        Command::Insmod(o) => cmd_insmod(o),
        Command::Rmmod(o) => cmd_rmmod(&o.name),
        Command::Bench(b) => bench::run(&b.opts()),
    }
}

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(Early::Info(text)) => {
            // Nothing to do if stdout is closed.
            let _ = io::stdout().write_all(text.as_bytes());
            return ExitCode::from(EXIT_OK);
        }
        Err(Early::Usage(e)) => {
            note!("{e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(Fatal(msg)) => {
            note!("cnctl: {msg}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
