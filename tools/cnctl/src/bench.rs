//! `cnctl bench`: the userspace driver of the benchmark.
//!
//! It talks to the kernel's bench peer (connector id 20:1, broadcasts to
//! netlink group 20) over a netlink socket of protocol `--proto` (11,
//! NETLINK_CONNECTOR; the "floor" configuration: a bare netlink kernel
//! socket speaking the same protocol). Every message is a cn_msg whose `ack`
//! field is the operation ([`Op`]); replies carry the id, the request's seq
//! and the operation. Each run prints one `row=... key=value ...` line.
//!
//! Every receive has a timeout set with SO_RCVTIMEO (kernel time, so an
//! instruction-counted guest does not wait on the host's clock), and the
//! hot loops build their datagram once and only patch its seq.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use netlink_sys::{Socket, SocketAddr};

use crate::cli::{BenchKind, BenchOpts, BENCH_DEFAULT_PROTO};
use crate::errors::{self, Ctx, Fatal};
use crate::wire::{self, CnHeader, RawNl, NLMSG_DONE, NLMSG_ERROR};
use crate::{emit, Res, EXIT_OK, RECV_BUF_LEN};

/// The bench peer's connector id, and the group it broadcasts to.
pub const BENCH_IDX: u32 = 20;
pub const BENCH_VAL: u32 = 1;
pub const BENCH_GROUP: u32 = 20;

/// The reply value of an operation the kernel peer does not support.
pub const UNSUPPORTED: u64 = u64::MAX;

/// How long a reply to ECHO or REPORT may take.
const REPLY_WAIT: Duration = Duration::from_secs(10);
/// How long a reply to BURST, ADDDEL, REG or UNREG may take (the kernel
/// does all the work before it answers).
const WORK_WAIT: Duration = Duration::from_secs(30);
/// How long a bcast listener waits for its next broadcast.
const LISTEN_WAIT: Duration = Duration::from_secs(30);

/// The port id of the first socket of a run; the others follow. Every run and
/// every configuration binds the same port ids, so that the kernel's lookup
/// of the destination socket, whose cost depends on which port ids share its
/// hash bucket, costs the same in all of them (an automatic port id is the
/// process id, new for every run).
const FIRST_PORTID: u32 = 0x7c00_0000;

/// The port id of the next socket of this run.
fn next_portid() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(FIRST_PORTID);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Set when one of the benchmark's port ids was taken: the rest of the run
/// binds automatic port ids.
static PORTIDS_TAKEN: AtomicBool = AtomicBool::new(false);

/// The operation of a request: its cn_msg `ack` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// The kernel counts the message; no reply.
    Count = 0,
    /// The kernel replies with the same id, seq, ack and data.
    Echo = 1,
    /// Reply: the counter as u64; the kernel resets it.
    Report = 2,
    /// Data u32 count, u32 size: `count` broadcasts of `size` zero bytes
    /// to group 20; reply: u64 broadcasts sent.
    Burst = 3,
    /// Data u32 n: n cn_add_callback + cn_del_callback pairs; reply: u64
    /// elapsed ns or [`UNSUPPORTED`].
    AddDel = 4,
    /// Data u32 n: register n dummy callbacks; reply: u64 count or
    /// [`UNSUPPORTED`].
    Reg = 5,
    /// Data u32 n: unregister them; reply as for REG.
    Unreg = 6,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Count => "COUNT",
            Op::Echo => "ECHO",
            Op::Report => "REPORT",
            Op::Burst => "BURST",
            Op::AddDel => "ADDDEL",
            Op::Reg => "REG",
            Op::Unreg => "UNREG",
        }
    }
}

/// A failure, made into words (and a [`Fatal`]) on the main thread: the
/// errno text comes from `strerror`, which is not for worker threads.
#[derive(Debug)]
pub enum Fail {
    /// What was being done, the error, and its context.
    Io(String, io::Error, Ctx),
    Msg(String),
}

impl Fail {
    /// Put `who: ` in front of the message.
    fn by(self, who: &str) -> Fail {
        match self {
            Fail::Io(what, e, ctx) => Fail::Io(format!("{who}: {what}"), e, ctx),
            Fail::Msg(m) => Fail::Msg(format!("{who}: {m}")),
        }
    }
}

impl From<Fail> for Fatal {
    fn from(f: Fail) -> Fatal {
        match f {
            Fail::Io(what, e, ctx) => Fatal(format!("{what}: {}", Fatal::io(&e, ctx).0)),
            Fail::Msg(m) => Fatal(m),
        }
    }
}

type FRes<T> = Result<T, Fail>;

/// A request datagram of the bench protocol (id 20:1, nlmsg type
/// NLMSG_DONE, flags 0).
pub fn request(op: Op, seq: u32, data: &[u8]) -> FRes<Vec<u8>> {
    wire::encode_cn_request(BENCH_IDX, BENCH_VAL, seq, op as u32, 0, data, 0)
        .ok_or_else(|| Fail::Msg(format!("{} request: data too long", op.name())))
}

/// The data of ADDDEL, REG and UNREG.
pub fn u32_data(n: u32) -> [u8; 4] {
    n.to_ne_bytes()
}

/// The data of BURST.
pub fn burst_data(count: u32, size: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&count.to_ne_bytes());
    b[4..].copy_from_slice(&size.to_ne_bytes());
    b
}

fn is_bench(h: &CnHeader) -> bool {
    h.idx == BENCH_IDX && h.val == BENCH_VAL
}

/// What a received datagram holds for someone waiting for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    /// The reply (id 20:1, the request's seq, ack = the operation): its data.
    Reply(&'a [u8]),
    /// An NLMSG_ERROR with a nonzero error (a negative errno).
    NlError(i32),
    /// Neither: keep waiting.
    Nothing,
}

/// Look for the reply to request (`seq`, `op`) in one datagram.
pub fn find_reply(dgram: &[u8], seq: u32, op: Op) -> Found<'_> {
    for raw in wire::walk(dgram) {
        let RawNl::Msg {
            nl_type, payload, ..
        } = raw
        else {
            break;
        };
        match nl_type {
            NLMSG_DONE => {
                if let Some((h, data)) = CnHeader::parse(payload) {
                    if is_bench(&h) && h.seq == seq && h.ack == op as u32 {
                        return Found::Reply(data);
                    }
                }
            }
            NLMSG_ERROR => {
                if let Some(e) = wire::nlmsg_error_code(payload).filter(|&e| e != 0) {
                    return Found::NlError(e);
                }
            }
            _ => {}
        }
    }
    Found::Nothing
}

/// The broadcasts of BURST (id 20:1, ack 0) in one datagram.
pub fn count_bcast(dgram: &[u8]) -> u64 {
    wire::walk(dgram)
        .filter(|raw| match raw {
            RawNl::Msg {
                nl_type: NLMSG_DONE,
                payload,
                ..
            } => CnHeader::parse(payload)
                .is_some_and(|(h, _)| is_bench(&h) && h.ack == Op::Count as u32),
            _ => false,
        })
        .count() as u64
}

/// The u64 of a reply's data (exactly 8 bytes).
pub fn reply_u64(op: Op, data: &[u8]) -> FRes<u64> {
    let b: [u8; 8] = data.try_into().map_err(|_| {
        Fail::Msg(format!(
            "{} reply: {} data bytes, expected 8",
            op.name(),
            data.len()
        ))
    })?;
    Ok(u64::from_ne_bytes(b))
}

/// `msgs` per second, for `msgs` in `ns` nanoseconds.
pub fn rate(msgs: u64, ns: u64) -> u64 {
    let r = u128::from(msgs) * 1_000_000_000 / u128::from(ns.max(1));
    u64::try_from(r).unwrap_or(u64::MAX)
}

/// Nanoseconds of a duration, as u64.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Round trip statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttStats {
    pub p50: u64,
    pub p99: u64,
    pub mean: u64,
}

/// The `pct` percentile of sorted samples, nearest rank: the smallest
/// sample with at least `pct`% of the samples at or below it.
fn nearest_rank(sorted: &[u64], pct: u64) -> u64 {
    let n = sorted.len() as u64;
    let rank = (pct * n).div_ceil(100).max(1);
    sorted[(rank - 1) as usize]
}

/// Median, 99th percentile (nearest rank) and mean of the samples (sorts
/// them). `None` without samples.
pub fn rtt_stats(samples: &mut [u64]) -> Option<RttStats> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
    Some(RttStats {
        p50: nearest_rank(samples, 50),
        p99: nearest_rank(samples, 99),
        mean: (sum / samples.len() as u128) as u64,
    })
}

/// The `Slab:` figure of /proc/meminfo, in kB.
pub fn meminfo_slab_kb(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix("Slab:")?.trim();
        v.strip_suffix("kB")?.trim().parse().ok()
    })
}

/// A generous estimate of the receive buffer space (`skb->truesize`) of
/// one broadcast of `size` data bytes: the data area (headers and
/// `skb_shared_info` included) is a power-of-two kmalloc, plus the
/// `sk_buff`.
fn bcast_truesize(size: u16) -> u64 {
    (u64::from(size) + 1024).next_power_of_two() + 1024
}

/// The receive buffer a bcast listener asks for, to hold `messages`
/// broadcasts of `size` bytes unread: at least 1 MiB, at most what
/// SO_RCVBUF(FORCE) takes (the kernel doubles it).
pub fn bcast_rcvbuf(messages: u64, size: u16) -> libc::c_int {
    let want = messages.saturating_mul(bcast_truesize(size)).max(1 << 20);
    want.min((libc::c_int::MAX / 2) as u64) as libc::c_int
}

/// The CPU of thread `i`: the i-th CPU this process may run on (CPU i when
/// CPUs 0.. are all allowed), round robin past the last.
pub fn cpu_for(i: usize, allowed: &[usize]) -> usize {
    allowed[i % allowed.len()]
}

pub fn send_line(size: u16, threads: u32, count: u32, ns: u64) -> String {
    let total = u64::from(threads) * u64::from(count);
    format!(
        "row=send size={size} threads={threads} count={count} ns={ns} rate={}",
        rate(total, ns)
    )
}

pub fn rtt_line(size: u16, count: u32, s: &RttStats) -> String {
    format!(
        "row=rtt size={size} count={count} p50_ns={} p99_ns={} mean_ns={}",
        s.p50, s.p99, s.mean
    )
}

pub fn bcast_line(size: u16, listeners: u32, threads: u32, count: u32, ns: u64) -> String {
    let total = u64::from(threads) * u64::from(count);
    format!(
        "row=bcast size={size} listeners={listeners} threads={threads} count={count} ns={ns} \
         rate={}",
        rate(total, ns)
    )
}

/// `ns`: the kernel's reply to ADDDEL.
pub fn adddel_line(count: u32, ns: u64) -> String {
    if ns == UNSUPPORTED {
        return "row=adddel unsupported".into();
    }
    format!(
        "row=adddel count={count} ns={ns} rate={}",
        rate(u64::from(count), ns)
    )
}

/// Slab before and after registering `count` callbacks, in kB.
pub fn percb_line(count: u32, before_kb: u64, after_kb: u64) -> String {
    let delta = (after_kb as i64 - before_kb as i64) * 1024;
    format!(
        "row=percb count={count} slab_delta_bytes={delta} bytes_per_cb={}",
        delta / i64::from(count.max(1))
    )
}

/// A bound netlink socket of the bench, with its receive buffer.
struct BenchSock {
    sock: Socket,
    buf: Vec<u8>,
    proto: u32,
    /// The SO_RCVTIMEO of the socket.
    wait: Duration,
}

/// The kernel's address: port id 0, no groups.
fn kernel() -> SocketAddr {
    SocketAddr::new(0, 0)
}

impl BenchSock {
    /// Open and bind a socket of protocol `proto` whose receives time out
    /// after `wait`. On the main thread (errors become words here).
    fn open(proto: u32, wait: Duration) -> Res<BenchSock> {
        let mut sock = Socket::new(proto as isize).map_err(|e| socket_error(&e, proto))?;
        let bound = if PORTIDS_TAKEN.load(Ordering::Relaxed) {
            sock.bind_auto().map(|_| ())
        } else {
            match sock.bind(&SocketAddr::new(next_portid(), 0)) {
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                    PORTIDS_TAKEN.store(true, Ordering::Relaxed);
                    note!(
                        "note: the benchmark's port ids are taken (another cnctl bench?): \
                         automatic port ids, whose lookup cost varies from run to run"
                    );
                    sock.bind_auto().map(|_| ())
                }
                bound => bound,
            }
        };
        bound.map_err(|e| Fatal::io(&e, Ctx::Bind))?;
        let tv = libc::timeval {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(wait.subsec_micros()),
        };
        setsockopt(&sock, libc::SO_RCVTIMEO, &tv)
            .map_err(|e| Fatal(format!("SO_RCVTIMEO: {}", Fatal::io(&e, Ctx::Socket).0)))?;
        Ok(BenchSock {
            sock,
            buf: vec![0; RECV_BUF_LEN],
            proto,
            wait,
        })
    }

    fn join(&self, group: u32) -> Res<()> {
        self.sock
            .add_membership(group)
            .map_err(|e| Fatal::io(&e, Ctx::Join(group)))
    }

    /// Ask for a receive buffer of `bytes` with SO_RCVBUFFORCE, or, without
    /// CAP_NET_ADMIN, SO_RCVBUF (capped by net.core.rmem_max). Returns
    /// whether it was forced.
    fn set_rcvbuf(&self, bytes: libc::c_int) -> Res<bool> {
        match setsockopt(&self.sock, libc::SO_RCVBUFFORCE, &bytes) {
            Ok(()) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => {
                return Err(Fatal(format!(
                    "SO_RCVBUFFORCE: {}",
                    Fatal::io(&e, Ctx::Socket).0
                )))
            }
        }
        setsockopt(&self.sock, libc::SO_RCVBUF, &bytes)
            .map_err(|e| Fatal(format!("SO_RCVBUF: {}", Fatal::io(&e, Ctx::Socket).0)))?;
        Ok(false)
    }

    /// Send one datagram to the kernel. Allocates nothing unless it fails.
    fn send(&self, dgram: &[u8]) -> FRes<()> {
        self.sock
            .send_to(dgram, &kernel(), 0)
            .map(|_| ())
            .map_err(|e| Fail::Io("sending".into(), e, Ctx::Send))
    }

    /// Receive one datagram into `buf`; its length. A timeout is an error
    /// of kind `WouldBlock`; a datagram longer than `buf`, one of kind
    /// `Other`.
    fn recv(&mut self) -> io::Result<usize> {
        loop {
            let mut slice = &mut self.buf[..];
            match self.sock.recv(&mut slice, libc::MSG_TRUNC) {
                Ok(n) if n > self.buf.len() => {
                    return Err(io::Error::other(format!(
                        "datagram of {n} bytes truncated to {}",
                        self.buf.len()
                    )))
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Wait for the reply to request (`seq`, `op`) and hand its data to `f`.
    /// Other messages are dropped.
    fn wait_reply<T>(&mut self, seq: u32, op: Op, f: impl Fn(&[u8]) -> FRes<T>) -> FRes<T> {
        loop {
            let n = match self.recv() {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(Fail::Msg(format!(
                        "timeout: no reply to {} (seq {seq}) within {} s: is the bench peer \
                         loaded (netlink protocol {}, id {BENCH_IDX}:{BENCH_VAL})?",
                        op.name(),
                        self.wait.as_secs(),
                        self.proto
                    )))
                }
                Err(e) => {
                    return Err(Fail::Io(
                        format!("waiting for the {} reply", op.name()),
                        e,
                        Ctx::Recv,
                    ))
                }
            };
            match find_reply(&self.buf[..n], seq, op) {
                Found::Reply(data) => return f(data),
                Found::NlError(e) => {
                    return Err(Fail::Msg(format!(
                        "{} request: the kernel answered with netlink error {e} ({})",
                        op.name(),
                        errors::errno_name(-e).unwrap_or("?")
                    )))
                }
                Found::Nothing => {}
            }
        }
    }

    /// Send request (`op`, `seq`, `data`) and return the u64 of its reply.
    fn request_u64(&mut self, op: Op, seq: u32, data: &[u8]) -> FRes<u64> {
        self.send(&request(op, seq, data)?)
            .map_err(|f| f.by(&format!("{} request", op.name())))?;
        self.wait_reply(seq, op, |d| reply_u64(op, d))
    }
}

/// The error of socket(): EPROTONOSUPPORT names the protocol.
fn socket_error(e: &io::Error, proto: u32) -> Fatal {
    let n = e.raw_os_error().unwrap_or(0);
    if proto == BENCH_DEFAULT_PROTO || n != libc::EPROTONOSUPPORT {
        return Fatal::io(e, Ctx::Socket);
    }
    Fatal(format!(
        "EPROTONOSUPPORT: the kernel has no netlink protocol {proto} socket \
         (load the module that creates it)"
    ))
}

/// setsockopt(SOL_SOCKET, `opt`, `value`).
fn setsockopt<T>(sock: &Socket, opt: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value points to a live T of the given size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Res<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid cpu_set_t of the size given.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if r != 0 {
        return Err(Fatal::io(&io::Error::last_os_error(), Ctx::Affinity));
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        return Err(Fatal("sched_getaffinity: no CPU allowed".into()));
    }
    Ok(cpus)
}

/// Pin the calling thread to `cpu`.
fn pin(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu comes from sched_getaffinity, below CPU_SETSIZE; set is a
    // valid cpu_set_t of the size given; pid 0 is the calling thread.
    let r = unsafe {
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn spawn<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> FRes<T> + Send + 'static,
) -> Res<JoinHandle<FRes<T>>> {
    thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|e| Fatal(format!("starting thread {name}: {e}")))
}

/// Join every thread; their results, or the first error.
fn join_all<T>(handles: Vec<JoinHandle<FRes<T>>>) -> Res<Vec<T>> {
    let mut out = Vec::with_capacity(handles.len());
    let mut first_err: Option<Fatal> = None;
    for h in handles {
        let name = h.thread().name().unwrap_or("?").to_string();
        match h.join() {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(f)) => {
                first_err.get_or_insert(f.into());
            }
            Err(_) => {
                first_err.get_or_insert(Fatal(format!("thread {name} panicked")));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Nanoseconds from the earliest of `starts` to the latest of `ends`: the
/// instants the threads took themselves (on one CPU the thread that released
/// them from a barrier may run again only long after they started, at a
/// moment that depends on the scheduler).
fn span_ns(starts: impl Iterator<Item = Instant>, ends: impl Iterator<Item = Instant>) -> u64 {
    match (starts.min(), ends.max()) {
        (Some(start), Some(end)) => nanos(end.saturating_duration_since(start)),
        _ => 0,
    }
}

/// Pin to `cpu` (returning the error after the barrier, so that no thread
/// is left waiting), wait at the barrier.
fn pin_and_wait(cpu: usize, barrier: &Barrier) -> FRes<()> {
    let pinned = pin(cpu);
    barrier.wait();
    pinned.map_err(|e| Fail::Io(format!("pinning to CPU {cpu}"), e, Ctx::Affinity))
}

fn run_send(o: &BenchOpts) -> Res<u8> {
    let cpus = allowed_cpus()?;
    let total = u64::from(o.threads) * u64::from(o.count);
    let mut ctl = BenchSock::open(o.proto, REPLY_WAIT)?;
    // Start from zero (whatever came before is dropped), and find out now
    // whether the peer answers at all.
    ctl.request_u64(Op::Report, 0, &[])?;
    let data = vec![0u8; usize::from(o.size)];
    let barrier = Arc::new(Barrier::new(o.threads as usize + 1));
    let mut handles = Vec::with_capacity(o.threads as usize);
    for i in 0..o.threads as usize {
        let sock = BenchSock::open(o.proto, REPLY_WAIT)?;
        let mut dgram = request(Op::Count, 0, &data)?;
        let (barrier, cpu, count) = (barrier.clone(), cpu_for(i, &cpus), o.count);
        handles.push(spawn(format!("send{i}"), move || {
            let who = format!("thread {i}");
            pin_and_wait(cpu, &barrier).map_err(|f| f.by(&who))?;
            let start = Instant::now();
            for seq in 0..count {
                wire::set_seq(&mut dgram, seq);
                sock.send(&dgram).map_err(|f| f.by(&who))?;
            }
            // The kernel ran the receiver for each message before `send` returned.
            Ok((start, Instant::now()))
        })?);
    }
    barrier.wait();
    let spans = join_all(handles)?;
    let ns = span_ns(spans.iter().map(|s| s.0), spans.iter().map(|s| s.1));
    let got = ctl.request_u64(Op::Report, 1, &[])?;
    if got != total {
        return Err(Fatal(format!("lost messages: got {got} of {total}")));
    }
    emit(&send_line(o.size, o.threads, o.count, ns))?;
    Ok(EXIT_OK)
}

fn run_rtt(o: &BenchOpts) -> Res<u8> {
    let mut sock = BenchSock::open(o.proto, REPLY_WAIT)?;
    let want = usize::from(o.size);
    let mut dgram = request(Op::Echo, 0, &vec![0u8; want])?;
    let mut samples: Vec<u64> = Vec::with_capacity(o.count as usize);
    let check_len = |d: &[u8]| {
        if d.len() == want {
            Ok(())
        } else {
            Err(Fail::Msg(format!(
                "ECHO reply: {} data bytes, expected {want}",
                d.len()
            )))
        }
    };
    for seq in 0..o.count {
        wire::set_seq(&mut dgram, seq);
        let t0 = Instant::now();
        sock.send(&dgram)?;
        sock.wait_reply(seq, Op::Echo, check_len)?;
        samples.push(nanos(t0.elapsed()));
    }
    let stats = rtt_stats(&mut samples).ok_or_else(|| Fatal("rtt: no samples".into()))?;
    emit(&rtt_line(o.size, o.count, &stats))?;
    Ok(EXIT_OK)
}

fn run_bcast(o: &BenchOpts) -> Res<u8> {
    let cpus = allowed_cpus()?;
    let total = u64::from(o.threads) * u64::from(o.count);
    let rcvbuf = bcast_rcvbuf(total, o.size);
    let mut listeners = Vec::with_capacity(o.listeners as usize);
    for i in 0..o.listeners {
        let sock = BenchSock::open(o.proto, LISTEN_WAIT)?;
        sock.join(BENCH_GROUP)?;
        if !sock.set_rcvbuf(rcvbuf)? && i == 0 {
            note!(
                "note: SO_RCVBUFFORCE not permitted: SO_RCVBUF {rcvbuf} (capped by \
                 net.core.rmem_max); the listeners read after the burst, so a burst \
                 larger than that buffer overflows it"
            );
        }
        listeners.push(sock);
    }
    let mut requesters = Vec::with_capacity(o.threads as usize);
    for _ in 0..o.threads {
        requesters.push(BenchSock::open(o.proto, WORK_WAIT)?);
    }

    // The listeners read once every burst has been sent (their receive
    // buffers hold it all): their reads do not interleave with the sends, so
    // the scheduler's choices, which a tiny change of path length can turn
    // either way, do not weigh on the figure; what it measures is the
    // same sum of sends and receives.
    // Opened by the requesters once their bursts are done (or failed).
    let drain = Arc::new(Barrier::new(o.listeners as usize + o.threads as usize));
    let mut listen_handles = Vec::with_capacity(listeners.len());
    for (i, mut sock) in listeners.into_iter().enumerate() {
        let drain = drain.clone();
        listen_handles.push(spawn(format!("listen{i}"), move || {
            drain.wait();
            let mut got = 0u64;
            while got < total {
                let n = match sock.recv() {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Err(Fail::Msg(format!(
                            "listener {i}: timeout: received {got} of {total} broadcasts \
                             (none for {} s)",
                            LISTEN_WAIT.as_secs()
                        )))
                    }
                    Err(e) => {
                        return Err(Fail::Io(
                            format!("listener {i}: after {got} of {total} broadcasts"),
                            e,
                            Ctx::Recv,
                        ))
                    }
                };
                got += count_bcast(&sock.buf[..n]);
            }
            Ok(Instant::now())
        })?);
    }

    let barrier = Arc::new(Barrier::new(o.threads as usize + 1));
    let mut req_handles = Vec::with_capacity(requesters.len());
    let arg = burst_data(o.count, u32::from(o.size));
    for (i, mut sock) in requesters.into_iter().enumerate() {
        let dgram = request(Op::Burst, 0, &arg)?;
        let (barrier, drain) = (barrier.clone(), drain.clone());
        let (cpu, count) = (cpu_for(i, &cpus), o.count);
        req_handles.push(spawn(format!("request{i}"), move || {
            let who = format!("requester {i}");
            let burst = pin_and_wait(cpu, &barrier).and_then(|()| {
                let start = Instant::now();
                sock.send(&dgram)?;
                let sent = sock.wait_reply(0, Op::Burst, |d| reply_u64(Op::Burst, d))?;
                Ok((start, sent))
            });
            drain.wait();
            let (start, sent) = burst.map_err(|f| f.by(&who))?;
            if sent != u64::from(count) {
                return Err(Fail::Msg(format!(
                    "{who}: the kernel sent {sent} of {count} broadcasts (a listener's \
                     receive buffer overflowed, or the size is above the peer's limit)"
                )));
            }
            Ok(start)
        })?);
    }
    barrier.wait();
    // A failed request ends the program: the listeners, released by the
    // drain all the same, end with it (or at their receive timeout).
    let starts = join_all(req_handles)?;
    let ends = join_all(listen_handles)?;
    let ns = span_ns(starts.into_iter(), ends.into_iter());
    emit(&bcast_line(o.size, o.listeners, o.threads, o.count, ns))?;
    Ok(EXIT_OK)
}

fn run_adddel(o: &BenchOpts) -> Res<u8> {
    let mut sock = BenchSock::open(o.proto, WORK_WAIT)?;
    let ns = sock.request_u64(Op::AddDel, 0, &u32_data(o.count))?;
    emit(&adddel_line(o.count, ns))?;
    Ok(EXIT_OK)
}

/// `Slab:` of /proc/meminfo in kB, after folding the per-CPU counters
/// (vm.stat_refresh; best effort: needs root and an SMP kernel).
fn read_slab_kb() -> Res<u64> {
    let _ = std::fs::write("/proc/sys/vm/stat_refresh", "1\n");
    let text = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| Fatal(format!("/proc/meminfo: {e}")))?;
    meminfo_slab_kb(&text).ok_or_else(|| Fatal("/proc/meminfo: no 'Slab: N kB' line".into()))
}

fn run_percb(o: &BenchOpts) -> Res<u8> {
    let mut sock = BenchSock::open(o.proto, WORK_WAIT)?;
    let n = u64::from(o.count);
    let before = read_slab_kb()?;
    let reg = sock.request_u64(Op::Reg, 0, &u32_data(o.count))?;
    if reg == UNSUPPORTED {
        emit("row=percb unsupported")?;
        return Ok(EXIT_OK);
    }
    let after = read_slab_kb()?;
    // Unregister even after a partial registration: the peer drops what it has.
    let unreg = sock.request_u64(Op::Unreg, 1, &u32_data(o.count))?;
    if reg != n {
        return Err(Fatal(format!(
            "REG: the kernel registered {reg} of {n} callbacks"
        )));
    }
    if unreg != n {
        return Err(Fatal(format!(
            "UNREG: the kernel unregistered {unreg} of {n} callbacks"
        )));
    }
    emit(&percb_line(o.count, before, after))?;
    Ok(EXIT_OK)
}

pub fn run(o: &BenchOpts) -> Res<u8> {
    match o.kind {
        BenchKind::Send => run_send(o),
        BenchKind::Rtt => run_rtt(o),
        BenchKind::Bcast => run_bcast(o),
        BenchKind::AddDel => run_adddel(o),
        BenchKind::PerCb => run_percb(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{nlmsg_align, NLMSG_HDRLEN};

    #[test]
    fn span_runs_from_the_earliest_start_to_the_latest_end() {
        let t0 = Instant::now();
        let at = |us| t0 + Duration::from_micros(us);
        // One requester, two listeners (bcast): every end counts, not only the first.
        assert_eq!(
            span_ns([at(10)].into_iter(), [at(30), at(70)].into_iter()),
            60_000
        );
        // Two senders, in any order.
        assert_eq!(
            span_ns([at(20), at(5)].into_iter(), [at(40), at(25)].into_iter()),
            35_000
        );
        assert_eq!(span_ns([].into_iter(), [at(1)].into_iter()), 0);
    }

    /// A datagram of several messages, each padded as the kernel pads them.
    fn concat(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut d = Vec::new();
        for m in msgs {
            d.extend_from_slice(m);
            d.resize(nlmsg_align(d.len()), 0);
        }
        d
    }

    /// A reply as the kernel peer sends it.
    fn reply(seq: u32, op: Op, data: &[u8]) -> Vec<u8> {
        request(op, seq, data).unwrap()
    }

    fn nl_error(err: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) as u32).to_ne_bytes());
        b.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        b.extend_from_slice(&[0u8; 10]);
        b.extend_from_slice(&err.to_ne_bytes());
        b.extend_from_slice(&[0u8; NLMSG_HDRLEN]);
        b
    }

    #[test]
    fn request_layout() {
        let b = request(Op::Burst, 7, &burst_data(1000, 64)).unwrap();
        assert_eq!(b.len(), 16 + 20 + 8);
        assert_eq!(&b[0..4], &44u32.to_ne_bytes());
        assert_eq!(&b[4..6], &NLMSG_DONE.to_ne_bytes());
        assert_eq!(&b[6..8], &0u16.to_ne_bytes());
        let (h, data) = CnHeader::parse(&b[16..]).unwrap();
        assert_eq!(
            h,
            CnHeader {
                idx: 20,
                val: 1,
                seq: 7,
                ack: 3,
                len: 8,
                flags: 0
            }
        );
        assert_eq!(data[..4], 1000u32.to_ne_bytes());
        assert_eq!(data[4..], 64u32.to_ne_bytes());
        assert_eq!(u32_data(500), 500u32.to_ne_bytes());
        let ops = [
            Op::Count,
            Op::Echo,
            Op::Report,
            Op::Burst,
            Op::AddDel,
            Op::Reg,
            Op::Unreg,
        ];
        assert_eq!(ops.map(|o| o as u32), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn patched_seq_is_what_the_kernel_reads() {
        let mut d = request(Op::Count, 0, &[0u8; 100]).unwrap();
        let copy = d.clone();
        for seq in [1, 0x1234_5678, u32::MAX] {
            wire::set_seq(&mut d, seq);
            assert_eq!(d, request(Op::Count, seq, &[0u8; 100]).unwrap());
            assert_eq!(
                find_reply(&d, seq, Op::Count),
                Found::Reply(&[0u8; 100][..])
            );
        }
        wire::set_seq(&mut d, 0);
        assert_eq!(d, copy);
    }

    #[test]
    fn replies_are_found() {
        let r = reply(5, Op::Report, &42u64.to_ne_bytes());
        let Found::Reply(data) = find_reply(&r, 5, Op::Report) else {
            panic!()
        };
        assert_eq!(reply_u64(Op::Report, data).unwrap(), 42);
        // another seq, another op, another id: not the reply
        assert_eq!(find_reply(&r, 6, Op::Report), Found::Nothing);
        assert_eq!(find_reply(&r, 5, Op::Burst), Found::Nothing);
        let other = wire::encode_cn_request(14, 0x456, 5, 2, 0, &[0; 8], 0).unwrap();
        assert_eq!(find_reply(&other, 5, Op::Report), Found::Nothing);
        // behind other messages in the same datagram
        let d = concat(&[other.clone(), reply(9, Op::Echo, b"abc"), r.clone()]);
        assert_eq!(find_reply(&d, 9, Op::Echo), Found::Reply(&b"abc"[..]));
        assert!(matches!(find_reply(&d, 5, Op::Report), Found::Reply(_)));
        // a netlink error stops the wait; an ack (error 0) does not
        assert_eq!(
            find_reply(&concat(&[nl_error(-19), r.clone()]), 5, Op::Report),
            Found::NlError(-19)
        );
        assert!(matches!(
            find_reply(&concat(&[nl_error(0), r.clone()]), 5, Op::Report),
            Found::Reply(_)
        ));
        // malformed or empty datagrams hold nothing
        assert_eq!(find_reply(&r[..10], 5, Op::Report), Found::Nothing);
        assert_eq!(find_reply(&[], 5, Op::Report), Found::Nothing);
    }

    #[test]
    fn u64_replies() {
        assert_eq!(
            reply_u64(Op::AddDel, &u64::MAX.to_ne_bytes()).unwrap(),
            UNSUPPORTED
        );
        let Err(Fail::Msg(m)) = reply_u64(Op::Reg, &[0; 4]) else {
            panic!()
        };
        assert_eq!(m, "REG reply: 4 data bytes, expected 8");
        assert!(reply_u64(Op::Reg, &[0; 9]).is_err());
        // the data is cut to what is present when cn len claims more
        let mut r = reply(1, Op::Report, &7u64.to_ne_bytes());
        r.truncate(r.len() - 4);
        let len = r.len() as u32;
        r[0..4].copy_from_slice(&len.to_ne_bytes());
        let Found::Reply(d) = find_reply(&r, 1, Op::Report) else {
            panic!()
        };
        assert!(reply_u64(Op::Report, d).is_err());
    }

    #[test]
    fn broadcasts_are_counted() {
        let b = |seq| reply(seq, Op::Count, &[0u8; 33]);
        assert_eq!(count_bcast(&b(0)), 1);
        let d = concat(&[b(0), b(1), reply(0, Op::Burst, &[0; 8]), b(2)]);
        assert_eq!(count_bcast(&d), 3);
        let other = wire::encode_cn_request(20, 2, 0, 0, 0, &[], 0).unwrap();
        assert_eq!(count_bcast(&concat(&[other, nl_error(-1)])), 0);
        assert_eq!(count_bcast(&[]), 0);
        // a cut-off tail is not counted
        let d = concat(&[b(0), b(1)]);
        assert_eq!(count_bcast(&d[..d.len() - 40]), 1);
    }

    #[test]
    fn percentiles() {
        let mut s: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            rtt_stats(&mut s),
            Some(RttStats {
                p50: 50,
                p99: 99,
                mean: 50
            })
        );
        let mut one = vec![7];
        assert_eq!(
            rtt_stats(&mut one),
            Some(RttStats {
                p50: 7,
                p99: 7,
                mean: 7
            })
        );
        let mut two = vec![30, 10];
        assert_eq!(
            rtt_stats(&mut two),
            Some(RttStats {
                p50: 10,
                p99: 30,
                mean: 20
            })
        );
        // one outlier in 1000: the mean sees it, p99 does not
        let mut s = vec![100u64; 1000];
        s[3] = 1_000_100;
        let st = rtt_stats(&mut s).unwrap();
        assert_eq!((st.p50, st.p99, st.mean), (100, 100, 1100));
        // eleven outliers in 1000 reach p99
        let mut s = vec![100u64; 1000];
        s[..11].fill(5000);
        assert_eq!(rtt_stats(&mut s).unwrap().p99, 5000);
        let mut big = vec![u64::MAX; 3];
        assert_eq!(rtt_stats(&mut big).unwrap().mean, u64::MAX);
        assert_eq!(rtt_stats(&mut []), None);
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:        2000000 kB\nMemFree:         1500000 kB\n\
                    Slab:              12345 kB\nSReclaimable:       2345 kB\n";
        assert_eq!(meminfo_slab_kb(text), Some(12345));
        assert_eq!(meminfo_slab_kb("Slab: 0 kB"), Some(0));
        assert_eq!(meminfo_slab_kb("MemTotal: 1 kB\n"), None);
        assert_eq!(meminfo_slab_kb("Slab: x kB\n"), None);
        assert_eq!(meminfo_slab_kb("Slab: 12\n"), None);
        assert_eq!(meminfo_slab_kb("SlabX: 12 kB\n"), None);
    }

    #[test]
    fn rates_and_lines() {
        assert_eq!(rate(1000, 1_000_000), 1_000_000);
        assert_eq!(rate(3, 2_000_000_000), 1);
        assert_eq!(rate(5, 0), 5_000_000_000);
        assert_eq!(rate(u64::MAX, 1), u64::MAX);
        assert_eq!(
            send_line(64, 4, 1000, 2_000_000),
            "row=send size=64 threads=4 count=1000 ns=2000000 rate=2000000"
        );
        assert_eq!(
            rtt_line(
                16,
                100,
                &RttStats {
                    p50: 1,
                    p99: 2,
                    mean: 3
                }
            ),
            "row=rtt size=16 count=100 p50_ns=1 p99_ns=2 mean_ns=3"
        );
        assert_eq!(
            bcast_line(256, 3, 2, 1000, 4_000_000),
            "row=bcast size=256 listeners=3 threads=2 count=1000 ns=4000000 rate=500000"
        );
        assert_eq!(
            adddel_line(10000, 5_000_000),
            "row=adddel count=10000 ns=5000000 rate=2000000"
        );
        assert_eq!(adddel_line(10000, u64::MAX), "row=adddel unsupported");
        assert_eq!(
            percb_line(500, 10_000, 10_125),
            "row=percb count=500 slab_delta_bytes=128000 bytes_per_cb=256"
        );
        assert_eq!(
            percb_line(500, 10_125, 10_000),
            "row=percb count=500 slab_delta_bytes=-128000 bytes_per_cb=-256"
        );
    }

    #[test]
    fn receive_buffers() {
        assert_eq!(bcast_truesize(0), 2048);
        assert_eq!(bcast_truesize(1024), 3072);
        // the largest connector message: a 32 KiB kmalloc and more
        assert!(bcast_truesize(16384) >= 32768);
        for size in [0u16, 1, 64, 1000, 4096, 16364, u16::MAX] {
            assert!(bcast_truesize(size) >= u64::from(size) + 1024);
        }
        assert_eq!(bcast_rcvbuf(1, 0), 1 << 20);
        assert_eq!(bcast_rcvbuf(10_000, 64), 10_000 * 3072);
        assert_eq!(bcast_rcvbuf(u64::MAX, 1), libc::c_int::MAX / 2);
    }

    #[test]
    fn cpus_of_threads() {
        assert_eq!(cpu_for(0, &[0, 1, 2, 3]), 0);
        assert_eq!(cpu_for(3, &[0, 1, 2, 3]), 3);
        assert_eq!(cpu_for(4, &[0, 1, 2, 3]), 0);
        assert_eq!(cpu_for(1, &[2, 5]), 5);
    }

    #[test]
    fn failures_in_words() {
        let f: Fatal = Fail::Io(
            "after 5 of 10 broadcasts".into(),
            io::Error::from_raw_os_error(libc::ENOBUFS),
            Ctx::Recv,
        )
        .by("listener 2")
        .into();
        assert_eq!(
            f.0,
            "listener 2: after 5 of 10 broadcasts: ENOBUFS: receiving: No buffer space \
             available (os error 105); receive buffer overrun, messages were lost"
        );
        let f: Fatal = Fail::Msg("x".into()).by("listener 0").into();
        assert_eq!(f.0, "listener 0: x");
    }
}
