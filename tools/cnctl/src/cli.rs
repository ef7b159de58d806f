//! The command line, on clap's derive API: each command's options are a struct that clap fills
//! in, with value parsers for the tool's number forms (decimal or `0x` hex), hex bytes, id
//! ranges and event names. [`parse`] maps clap's outcome to the tool's conventions: a usage error
//! is one line on stderr and exit code 64; `--help` and `--version` go to stdout, exit code 0.

use std::ffi::OsString;
use std::fmt;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand};

use crate::fuzz::DEFAULT_BATCH_MAX;
use crate::output::Clock;
use crate::wire::{NotifyReq, PROC_EVENT_NAMES};

/// The most data bytes of one connector message (its 16-bit `len`).
pub const MAX_DATA: usize = u16::MAX as usize;

const TOP_AFTER_HELP: &str = "\
Numbers are decimal or 0x-prefixed hex; options take --opt VALUE or --opt=VALUE, in any order.

Exit status:
  0   success; also a listen or proc ended by SIGINT, SIGTERM or a closed stdout, after its
      cleanup (proc sends PROC_CN_MCAST_IGNORE first)
  1   timeout or not found: a count not reached in time, no ack, no reply or a netlink error
      instead of it; insmod and rmmod: the kernel refused
  2   runtime error: one line on stderr, 'cnctl: ...'
  64  usage error: one line on stderr

Examples:
  cnctl listen --group 14 --count 3 --timeout-ms 10000
  cnctl send --idx 14 --val 0x456 --data hello --nul --reply-timeout-ms 3000
  cnctl proc --filter fork,exec,nonzero-exit --resolve --timestamps wall
  cnctl --as-uid 1000 proc --json
  cnctl help proc";

const LISTEN_EXAMPLES: &str = "\
Examples:
  cnctl listen --group 14 --count 3 --timeout-ms 10000
  cnctl listen --group 14 --match-idx 14 --match-val 0x457 --json --timestamps mono";

const SEND_EXAMPLES: &str = "\
Examples:
  cnctl send --idx 14 --val 0x456 --seq 42 --ack 7 --data 'hello connector' --nul
  cnctl send --idx 14 --val 0x456 --seq 1 --ack 7 --data hello --nul --reply-timeout-ms 3000
  cnctl send --idx 1 --val 1 --hex 01000000 --nl-ack --json";

const RAW_EXAMPLES: &str = "\
Examples:
  cnctl raw --nl-ack --hex 2400000003000400000000000000000077000000770000000000000000000000\\
00000000";

const FLOOD_EXAMPLES: &str = "\
Examples:
  cnctl flood --idx 14 --val 0x456 --count 3000 --data flood
  cnctl flood --idx 14 --val 0x456 --count 1000 --reply";

const BIND_EXAMPLES: &str = "\
Examples:
  cnctl --as-uid 1000 bind --group 1
  cnctl bind --group 14 --json";

const NOTIFY_EXAMPLES: &str = "\
Examples:
  cnctl notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack --listen-ms 8000
  cnctl notify --remove --idx 14:1 --val 0x456:2 --nl-ack";

const PROC_EXAMPLES: &str = "\
Examples:
  cnctl proc --timeout-ms 4000
  cnctl proc --filter fork,exec,nonzero-exit --count 10
  cnctl proc --filter exit,0x200 --resolve --timestamps wall
  cnctl proc --json | head -n 5";

const FUZZ_EXAMPLES: &str = "\
Examples:
  cnctl fuzz --seed 1 --count 20000
  cnctl fuzz --seed 2 --count 20000 --as-uid 1000 --batch-max 64";

const INSMOD_EXAMPLES: &str = "\
Examples:
  cnctl insmod /modules/cn_test.ko interval_ms=0 reply=1
  cnctl insmod --fail-nth 3 /modules/connector.ko";

const RMMOD_EXAMPLES: &str = "\
Examples:
  cnctl rmmod cn_test";

const BENCH_EXAMPLES: &str = "\
Examples:
  cnctl bench send --size 64 --count 100000 --threads 2
  cnctl bench rtt --size 0 --count 10000 --proto 30
  cnctl bench bcast --size 256 --count 1000 --listeners 3
  cnctl bench adddel --count 10000
  cnctl bench percb --count 500";

/// The help heading of the options accepted before and after any command.
const GLOBAL_OPTIONS: &str = "Global options (before or after the command)";

/// Userspace tool for the kernel connector (NETLINK_CONNECTOR): sends and receives connector
/// messages and process events, and drives the project's tests and benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "cnctl", version, after_help = TOP_AFTER_HELP)]
pub struct Cli {
    /// Drop to uid and gid UID (and no supplementary groups) first
    #[arg(
        long,
        global = true,
        value_name = "UID",
        value_parser = number::<u32>,
        help_heading = GLOBAL_OPTIONS
    )]
    pub as_uid: Option<u32>,

    /// Let failslab fail this process's allocations (/proc/thread-self/make-it-fail)
    #[arg(long, global = true, help_heading = GLOBAL_OPTIONS)]
    pub make_it_fail: bool,

    #[command(subcommand)]
    pub cmd: Command,
}

/// The commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Join a connector group and print the messages broadcast to it
    #[command(after_help = LISTEN_EXAMPLES)]
    Listen(ListenOpts),
    /// Send one connector message to the kernel and print what answers it
    #[command(after_help = SEND_EXAMPLES)]
    Send(SendOpts),
    /// Send one datagram of raw bytes to the kernel
    #[command(after_help = RAW_EXAMPLES)]
    Raw(RawOpts),
    /// Send COUNT messages as fast as possible (or as round trips with --reply)
    #[command(after_help = FLOOD_EXAMPLES)]
    Flood(FloodOpts),
    /// Join a connector group and say whether that worked
    #[command(after_help = BIND_EXAMPLES)]
    Bind(BindOpts),
    /// Ask the connector for (or cancel) notifications of callbacks added and removed
    #[command(after_help = NOTIFY_EXAMPLES)]
    Notify(NotifyOpts),
    /// Listen to process events (the proc connector, id 1:1) and print one line per event
    #[command(after_help = PROC_EXAMPLES)]
    Proc(ProcOpts),
    /// Send seeded, reproducible fuzzed datagrams to the kernel's connector
    #[command(after_help = FUZZ_EXAMPLES)]
    Fuzz(FuzzOpts),
    /// Load a module with finit_module(2), optionally failing its N-th slab allocation
    #[command(after_help = INSMOD_EXAMPLES)]
    Insmod(InsmodOpts),
    /// Unload a module with delete_module(2) (O_NONBLOCK)
    #[command(after_help = RMMOD_EXAMPLES)]
    Rmmod(RmmodOpts),
    /// Drive the benchmark peer (tests/bench, id 20:1) and print one result row
    #[command(subcommand, after_help = BENCH_EXAMPLES)]
    Bench(BenchCmd),
}

/// How receiving commands print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Args)]
pub struct OutputOpts {
    /// Print JSON lines, one object per message or event, instead of key=value text
    #[arg(long)]
    pub json: bool,

    /// Lead each line with the time it was printed (not received): time=<UTC> (wall:
    /// CLOCK_REALTIME) or mono=<seconds> (mono: CLOCK_MONOTONIC, as the process events'
    /// timestamps; not CLOCK_BOOTTIME, which counts suspend); in JSON a "time" key
    #[arg(long, value_name = "CLOCK", value_enum)]
    pub timestamps: Option<Clock>,
}

/// The options of `listen`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ListenOpts {
    /// The group to join (a connector user's idx; 1: process events)
    #[arg(long, value_name = "G", value_parser = number::<u32>)]
    pub group: u32,

    /// Stop after N messages (exit 1 if the timeout comes first)
    #[arg(long, value_name = "N", value_parser = number::<u64>)]
    pub count: Option<u64>,

    /// Stop after T milliseconds
    #[arg(long, value_name = "T", value_parser = number::<u64>)]
    pub timeout_ms: Option<u64>,

    /// Print only the messages of idx I
    #[arg(long, value_name = "I", value_parser = number::<u32>)]
    pub match_idx: Option<u32>,

    /// Print only the messages of val V
    #[arg(long, value_name = "V", value_parser = number::<u32>)]
    pub match_val: Option<u32>,

    #[command(flatten)]
    pub output: OutputOpts,
}

/// Bytes given on the command line (`--hex`, `--data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

/// The options of `send`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct SendOpts {
    /// The message's idx
    #[arg(long, value_name = "I", value_parser = number::<u32>)]
    pub idx: u32,

    /// The message's val
    #[arg(long, value_name = "V", value_parser = number::<u32>)]
    pub val: u32,

    /// The sequence number (also the netlink header's)
    #[arg(long, value_name = "S", value_parser = number::<u32>, default_value = "0")]
    pub seq: u32,

    /// The ack field
    #[arg(long, value_name = "A", value_parser = number::<u32>, default_value = "0")]
    pub ack: u32,

    /// The cn_msg flags
    #[arg(long, value_name = "F", value_parser = number::<u16>, default_value = "0")]
    pub flags: u16,

    /// The data, as text
    #[arg(
        long,
        value_name = "TEXT",
        value_parser = text_data,
        conflicts_with = "hex",
        allow_hyphen_values = true
    )]
    pub data: Option<Bytes>,

    /// The data, as hex bytes (an optional 0x, spaces and ':' allowed)
    #[arg(long, value_name = "HEX", value_parser = hex_data)]
    pub hex: Option<Bytes>,

    /// Append a NUL byte to the data
    #[arg(long)]
    pub nul: bool,

    /// Ask for a netlink ack (NLM_F_ACK) and print it (waits 2 s)
    #[arg(long)]
    pub nl_ack: bool,

    /// Wait up to T ms for the reply (same id and seq, ack + 1) and print it
    #[arg(long, value_name = "T", value_parser = number::<u64>)]
    pub reply_timeout_ms: Option<u64>,

    /// Join group G first and print its broadcasts while waiting
    #[arg(long, value_name = "G", value_parser = number::<u32>)]
    pub group: Option<u32>,

    #[command(flatten)]
    pub output: OutputOpts,
}

impl SendOpts {
    /// The data of the message: --data or --hex, then the NUL of --nul.
    pub fn payload(&self) -> Vec<u8> {
        let given = self.data.as_ref().or(self.hex.as_ref());
        let mut data = given.map_or_else(Vec::new, |b| b.0.clone());
        if self.nul {
            data.push(0);
        }
        data
    }
}

/// The options of `raw`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RawOpts {
    /// The datagram, as hex bytes (an optional 0x, spaces and ':' allowed)
    #[arg(long, value_name = "HEX", value_parser = hex_data)]
    pub hex: Bytes,

    /// Wait 1 s for a netlink ack (NLMSG_ERROR) and print it
    #[arg(long)]
    pub nl_ack: bool,

    #[command(flatten)]
    pub output: OutputOpts,
}

/// The options of `flood`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct FloodOpts {
    /// The messages' idx
    #[arg(long, value_name = "I", value_parser = number::<u32>)]
    pub idx: u32,

    /// The messages' val
    #[arg(long, value_name = "V", value_parser = number::<u32>)]
    pub val: u32,

    /// How many messages (seq 0, 1, ...)
    #[arg(long, value_name = "N", value_parser = number::<u64>)]
    pub count: u64,

    /// The data of each message, as text
    #[arg(
        long,
        value_name = "TEXT",
        value_parser = text_data,
        allow_hyphen_values = true
    )]
    pub data: Option<Bytes>,

    /// Wait for each message's reply (seq, ack 1) before sending the next: round trips
    #[arg(long)]
    pub reply: bool,
}

/// The options of `bind`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct BindOpts {
    /// The group to join
    #[arg(long, value_name = "G", value_parser = number::<u32>)]
    pub group: u32,

    /// Print the result as a JSON line
    #[arg(long)]
    pub json: bool,
}

/// `FIRST:RANGE[,FIRST:RANGE...]` of `notify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(pub Vec<NotifyReq>);

/// The options of `notify`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["add", "remove"])))]
pub struct NotifyOpts {
    /// Ask for notifications to GROUP
    #[arg(long, value_name = "GROUP", value_parser = number::<u32>)]
    pub add: Option<u32>,

    /// Cancel a request
    #[arg(long)]
    pub remove: bool,

    /// The control id's idx (connector.ko's ctl_idx)
    #[arg(long, value_name = "CI", value_parser = number::<u32>, default_value = "0xffffffff")]
    pub ctl_idx: u32,

    /// The control id's val (connector.ko's ctl_val)
    #[arg(long, value_name = "CV", value_parser = number::<u32>, default_value = "0xffffffff")]
    pub ctl_val: u32,

    /// The idx ranges to watch
    #[arg(
        long,
        value_name = "FIRST:RANGE[,...]",
        value_parser = ranges,
        default_value = "",
        hide_default_value = true
    )]
    pub idx: Ranges,

    /// The val ranges to watch
    #[arg(
        long,
        value_name = "FIRST:RANGE[,...]",
        value_parser = ranges,
        default_value = "",
        hide_default_value = true
    )]
    pub val: Ranges,

    /// Ask for a netlink ack and print it (waits 2 s)
    #[arg(long)]
    pub nl_ack: bool,

    /// Then join GROUP (of --add) and print the notifications for T ms
    #[arg(long, value_name = "T", value_parser = number::<u64>)]
    pub listen_ms: Option<u64>,

    #[command(flatten)]
    pub output: OutputOpts,
}

/// The options of `proc`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ProcOpts {
    /// The events to ask for, comma-separated names or numbers (enum proc_cn_event bits), ORed:
    /// fork, exec, uid, gid, sid, ptrace, comm, coredump, exit, nonzero-exit, all
    #[arg(
        long,
        value_name = "EVENTS",
        value_parser = event_mask,
        default_value = "all",
        conflicts_with = "legacy"
    )]
    pub filter: u32,

    /// Stop after N process events (acknowledgements not counted)
    #[arg(long, value_name = "N", value_parser = number::<u64>)]
    pub count: Option<u64>,

    /// Stop after T milliseconds
    #[arg(long, value_name = "T", value_parser = number::<u64>)]
    pub timeout_ms: Option<u64>,

    /// Send PROC_CN_MCAST_IGNORE after T ms, and keep listening
    #[arg(long, value_name = "T", value_parser = number::<u64>)]
    pub ignore_after_ms: Option<u64>,

    /// Send the bare 4-byte operation of older kernels (every event) instead of struct
    /// proc_input
    #[arg(long)]
    pub legacy: bool,

    /// The operation of the first request (protocol tests; no IGNORE at the end unless 1,
    /// PROC_CN_MCAST_LISTEN)
    #[arg(long, value_name = "OP", value_parser = number::<u32>, default_value = "1")]
    pub op: u32,

    /// Add the process's name from /proc/PID/comm (name="..."), when it still runs
    #[arg(long)]
    pub resolve: bool,

    #[command(flatten)]
    pub output: OutputOpts,
}

/// The options of `fuzz`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct FuzzOpts {
    /// The seed: the same seed sends the same bytes
    #[arg(long, value_name = "S", value_parser = number::<u64>)]
    pub seed: u64,

    /// Datagrams to send
    #[arg(long, value_name = "N", value_parser = number::<u64>)]
    pub count: u64,

    /// The most netlink messages in one datagram
    #[arg(long, value_name = "M", value_parser = in_range(1, u32::MAX), default_value_t = DEFAULT_BATCH_MAX)]
    pub batch_max: u32,
}

/// The options of `insmod`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct InsmodOpts {
    /// Fail the N-th slab allocation of the load (/proc/thread-self/fail-nth; counts from 1)
    #[arg(long, value_name = "N", value_parser = in_range(1, u32::MAX))]
    pub fail_nth: Option<u32>,

    /// The module file
    #[arg(value_name = "FILE.ko")]
    pub file: String,

    /// Module parameters
    #[arg(value_name = "PARAM=VALUE", value_parser = module_param)]
    pub params: Vec<String>,
}

/// The options of `rmmod`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RmmodOpts {
    /// The module's name (a trailing .ko is dropped)
    #[arg(value_name = "NAME", value_parser = module_name)]
    pub name: String,
}

/// The default of `bench --proto`: NETLINK_CONNECTOR.
pub const BENCH_DEFAULT_PROTO: u32 = 11;
/// The most threads (or listeners) `bench` starts.
pub const BENCH_MAX_THREADS: u32 = 1024;
/// Netlink protocol numbers are below `MAX_LINKS`.
const NETLINK_MAX_LINKS: u32 = 32;

/// The measurements of `cnctl bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchKind {
    /// COUNT messages from T pinned threads, checked with one REPORT.
    Send,
    /// ECHO round trips.
    Rtt,
    /// BURST broadcasts to L listeners, requested by T threads.
    Bcast,
    /// The kernel's timing of cn_add_callback + cn_del_callback pairs.
    AddDel,
    /// Slab bytes per registered callback.
    PerCb,
}

/// One benchmark run, as `bench.rs` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOpts {
    pub kind: BenchKind,
    /// Netlink protocol of the sockets.
    pub proto: u32,
    /// Messages per thread (send), round trips (rtt), broadcasts per requester (bcast),
    /// pairs (adddel), callbacks (percb). At least 1.
    pub count: u32,
    /// Data bytes per message (send, rtt, bcast; 0 otherwise).
    pub size: u16,
    /// Sending (send) or requesting (bcast) threads; 1 otherwise.
    pub threads: u32,
    /// Listener threads (bcast; 0 otherwise).
    pub listeners: u32,
}

/// The options of every measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct BenchCommon {
    /// Messages per thread (send), round trips (rtt), broadcasts per requester (bcast), pairs
    /// (adddel), callbacks (percb)
    #[arg(long, value_name = "N", value_parser = in_range(1, u32::MAX))]
    pub count: u32,

    /// The netlink protocol of the sockets (30: the floor configuration)
    #[arg(long, value_name = "P", value_parser = in_range(0, NETLINK_MAX_LINKS - 1), default_value_t = BENCH_DEFAULT_PROTO)]
    pub proto: u32,
}

/// The data size of a measurement that sends data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct BenchSize {
    /// Data bytes per message (zeros)
    #[arg(long, value_name = "S", value_parser = number::<u16>)]
    pub size: u16,
}

/// The sending threads of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct BenchThreads {
    /// Sending (send) or requesting (bcast) threads, pinned to CPUs
    #[arg(long, value_name = "T", value_parser = in_range(1, BENCH_MAX_THREADS), default_value = "1")]
    pub threads: u32,
}

/// The measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum BenchCmd {
    /// COUNT messages from T pinned threads, checked with one REPORT
    #[command(after_help = BENCH_EXAMPLES)]
    Send {
        #[command(flatten)]
        size: BenchSize,
        #[command(flatten)]
        threads: BenchThreads,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// ECHO round trips, timed one by one
    #[command(after_help = BENCH_EXAMPLES)]
    Rtt {
        #[command(flatten)]
        size: BenchSize,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// BURST broadcasts to L listeners, requested by T threads
    #[command(after_help = BENCH_EXAMPLES)]
    Bcast {
        #[command(flatten)]
        size: BenchSize,
        /// Listener threads, each with a socket in group 20
        #[arg(long, value_name = "L", value_parser = in_range(1, BENCH_MAX_THREADS))]
        listeners: u32,
        #[command(flatten)]
        threads: BenchThreads,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// The kernel's timing of cn_add_callback + cn_del_callback pairs
    #[command(after_help = BENCH_EXAMPLES)]
    Adddel {
        #[command(flatten)]
        common: BenchCommon,
    },
    /// Slab bytes per registered callback
    #[command(after_help = BENCH_EXAMPLES)]
    Percb {
        #[command(flatten)]
        common: BenchCommon,
    },
}

impl BenchCmd {
    /// The run this command line asks for.
    pub fn opts(&self) -> BenchOpts {
        let run = |kind, common: &BenchCommon| BenchOpts {
            kind,
            proto: common.proto,
            count: common.count,
            size: 0,
            threads: 1,
            listeners: 0,
        };
        match self {
            BenchCmd::Send {
                size,
                threads,
                common,
            } => BenchOpts {
                size: size.size,
                threads: threads.threads,
                ..run(BenchKind::Send, common)
            },
            BenchCmd::Rtt { size, common } => BenchOpts {
                size: size.size,
                ..run(BenchKind::Rtt, common)
            },
            BenchCmd::Bcast {
                size,
                listeners,
                threads,
                common,
            } => BenchOpts {
                size: size.size,
                threads: threads.threads,
                listeners: *listeners,
                ..run(BenchKind::Bcast, common)
            },
            BenchCmd::Adddel { common } => run(BenchKind::AddDel, common),
            BenchCmd::Percb { common } => run(BenchKind::PerCb, common),
        }
    }
}

/// Parse a number: decimal, or hex with a `0x`/`0X` prefix.
pub fn parse_num(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Value parser of a number that fits `T`.
fn number<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let n = parse_num(s).ok_or("not a number (decimal, or hex with 0x)")?;
    T::try_from(n).map_err(|_| format!("out of range ({})", std::any::type_name::<T>()))
}

/// Value parser of a number in `lo..=hi`.
fn in_range(lo: u32, hi: u32) -> impl Fn(&str) -> Result<u32, String> + Clone + Send + Sync {
    move |s| {
        let n = number::<u32>(s)?;
        match (lo..=hi).contains(&n) {
            true => Ok(n),
            false if hi == u32::MAX => Err(format!("must be at least {lo}")),
            false => Err(format!("must be {lo}..{hi}")),
        }
    }
}

/// Parse a hex byte string. An optional `0x` prefix, whitespace and `:`
/// separators are allowed; the digits must come in pairs.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    let pairs = digits.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Value parser of hex bytes.
fn hex_data(s: &str) -> Result<Bytes, String> {
    parse_hex(s)
        .map(Bytes)
        .ok_or_else(|| "not a hex byte string".into())
}

/// Value parser of text data: at most [`MAX_DATA`] bytes.
fn text_data(s: &str) -> Result<Bytes, String> {
    if s.len() > MAX_DATA {
        return Err(format!("longer than {MAX_DATA} bytes"));
    }
    Ok(Bytes(s.as_bytes().to_vec()))
}

/// Value parser of `FIRST:RANGE[,FIRST:RANGE...]` (empty: none).
fn ranges(s: &str) -> Result<Ranges, String> {
    if s.is_empty() {
        return Ok(Ranges::default());
    }
    s.split(',')
        .map(|item| {
            let (first, range) = item
                .split_once(':')
                .ok_or_else(|| format!("expected FIRST:RANGE, got '{item}'"))?;
            Ok(NotifyReq {
                first: number(first)?,
                range: number(range)?,
            })
        })
        .collect::<Result<_, String>>()
        .map(Ranges)
}

/// Value parser of `--filter`: event names or numbers, comma-separated, ORed.
pub fn event_mask(s: &str) -> Result<u32, String> {
    s.split(',').try_fold(0, |mask, item| {
        let bits = match PROC_EVENT_NAMES.iter().find(|(name, _)| *name == item) {
            Some(&(_, bits)) => bits,
            None => number::<u32>(item).map_err(|_| {
                let names: Vec<&str> = PROC_EVENT_NAMES.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown event '{item}' (known: {}; or a number)",
                    names.join(", ")
                )
            })?,
        };
        Ok(mask | bits)
    })
}

/// Value parser of a module parameter: `PARAM=VALUE` without spaces.
fn module_param(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(' ') {
        return Err("a parameter is PARAM=VALUE without spaces".into());
    }
    Ok(s.to_string())
}

/// Value parser of a module name: a trailing `.ko` is dropped.
fn module_name(s: &str) -> Result<String, String> {
    let name = s.strip_suffix(".ko").unwrap_or(s);
    if name.is_empty() {
        return Err("empty module name".into());
    }
    Ok(name.to_string())
}

/// A usage error: printed as one line, exit code 64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What is wrong.
    pub what: String,
    /// The command whose help to see: empty, `listen`, `bench send`, ...
    pub command: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let space = if self.command.is_empty() { "" } else { " " };
        write!(
            f,
            "cnctl: {} (see 'cnctl{space}{} --help')",
            self.what, self.command
        )
    }
}

/// How the program ends without running a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Early {
    /// `--help` or `--version`: the text for stdout, exit code 0.
    Info(String),
    /// A usage error.
    Usage(UsageError),
}

impl Cli {
    /// The rules that clap's attributes do not express.
    fn check(&self) -> Result<(), String> {
        match &self.cmd {
            Command::Send(o) if o.payload().len() > MAX_DATA => {
                Err(format!("data longer than {MAX_DATA} bytes"))
            }
            Command::Notify(o) if o.listen_ms.is_some() && o.add.is_none() => {
                Err("--listen-ms needs --add GROUP".into())
            }
            _ => Ok(()),
        }
    }
}

/// The (sub)command path named by `args` (the program name first): as far as it names
/// commands that exist, skipping global options.
fn command_path(args: &[OsString]) -> String {
    let mut cmd = Cli::command();
    let mut path: Vec<&str> = Vec::new();
    let mut words = args.iter().skip(1).map(|a| a.to_str().unwrap_or(""));
    while let Some(word) = words.next() {
        if word == "--as-uid" {
            words.next();
        } else if !word.starts_with('-') {
            let Some(sub) = cmd.find_subcommand(word).cloned() else {
                break;
            };
            path.push(word);
            cmd = sub;
        }
    }
    path.join(" ")
}

/// Whether the global `--as-uid` comes more than once in `args` (clap takes the last of a global
/// option given before and after the command).
fn as_uid_repeated(args: &[OsString]) -> bool {
    let is_as_uid = |a: &&OsString| {
        a.to_str()
            .is_some_and(|a| a == "--as-uid" || a.starts_with("--as-uid="))
    };
    args.iter().skip(1).filter(is_as_uid).count() > 1
}

/// The usage error or the information of clap's error `e` for the command line `args`.
fn early(e: &clap::Error, args: &[OsString]) -> Early {
    let text = e.to_string();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Early::Info(text),
        // (clap's form of this one is the whole help, on stderr)
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Early::Usage(UsageError {
            what: "missing command".into(),
            command: command_path(args),
        }),
        ErrorKind::MissingRequiredArgument => Early::Usage(UsageError {
            what: missing_what(e),
            command: command_path(args),
        }),
        _ => {
            let first = text.lines().next().unwrap_or_default();
            Early::Usage(UsageError {
                what: first.strip_prefix("error: ").unwrap_or(first).to_string(),
                command: command_path(args),
            })
        }
    }
}

/// What clap's error `e` of kind MissingRequiredArgument lacks, on one line (clap's own text
/// lists them on the lines after the first): `missing required option --group`, `missing
/// required options --idx, --val`, `missing required argument <FILE>`; a group of alternatives
/// as `--add|--remove`.
fn missing_what(e: &clap::Error) -> String {
    let names: Vec<String> = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::Strings(v)) => v.iter().map(|a| arg_name(a)).collect(),
        Some(ContextValue::String(a)) => vec![arg_name(a)],
        _ => Vec::new(),
    };
    if names.is_empty() {
        return "missing a required option".into();
    }
    let kind = match names.iter().all(|n| n.starts_with("--")) {
        true => "option",
        false => "argument",
    };
    let plural = if names.len() > 1 { "s" } else { "" };
    format!("missing required {kind}{plural} {}", names.join(", "))
}

/// An argument as clap names it in an error, without its value's name: `--group <G>` is
/// `--group`, `<--add <GROUP>|--remove>` (a group) `--add|--remove`, `<FILE>` stays.
fn arg_name(arg: &str) -> String {
    let inner = match arg.strip_prefix("<--").and_then(|a| a.strip_suffix('>')) {
        Some(group) => format!("--{group}"),
        None => arg.to_string(),
    };
    if !inner.starts_with("--") {
        return inner;
    }
    inner
        .split('|')
        .map(|alt| alt.split_whitespace().next().unwrap_or(alt))
        .collect::<Vec<_>>()
        .join("|")
}

/// Parses the command line (the program name first).
pub fn parse<I, T>(args: I) -> Result<Cli, Early>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = Cli::try_parse_from(&args).map_err(|e| early(&e, &args))?;
    let checked = match as_uid_repeated(&args) {
        true => Err("--as-uid given twice".into()),
        false => cli.check(),
    };
    checked.map_err(|what| {
        Early::Usage(UsageError {
            what,
            command: command_path(&args),
        })
    })?;
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{PROC_EVENT_ALL, PROC_EVENT_COMM, PROC_EVENT_EXIT, PROC_EVENT_FORK};

    fn p(s: &str) -> Result<Cli, Early> {
        parse(std::iter::once("cnctl").chain(s.split_whitespace()))
    }

    fn cmd(s: &str) -> Command {
        match p(s) {
            Ok(cli) => cli.cmd,
            Err(e) => panic!("'{s}': {e:?}"),
        }
    }

    /// The usage error of a command line that must fail.
    fn usage(s: &str) -> UsageError {
        match p(s) {
            Err(Early::Usage(e)) => e,
            other => panic!("'{s}' did not fail: {other:?}"),
        }
    }

    fn is_err(s: &str) -> bool {
        matches!(p(s), Err(Early::Usage(_)))
    }

    const NO_OUTPUT: OutputOpts = OutputOpts {
        json: false,
        timestamps: None,
    };

    #[test]
    fn numbers() {
        assert_eq!(parse_num("0"), Some(0));
        assert_eq!(parse_num("42"), Some(42));
        assert_eq!(parse_num("0x1F"), Some(31));
        assert_eq!(parse_num("0Xffffffff"), Some(0xffff_ffff));
        assert_eq!(parse_num("0x"), None);
        assert_eq!(parse_num(""), None);
        assert_eq!(parse_num("-1"), None);
        assert_eq!(parse_num("+1"), None);
        assert_eq!(parse_num("12a"), None);
        assert!(is_err("bind --group 0x100000000"));
        assert!(is_err("send --idx 1 --val 1 --flags 0x10000"));
        let e = usage("bind --group 0x100000000");
        assert!(e.what.contains("out of range (u32)"), "{e}");
    }

    #[test]
    fn hex_bytes() {
        assert_eq!(parse_hex("00ff10"), Some(vec![0, 0xff, 0x10]));
        assert_eq!(parse_hex("0xDEad"), Some(vec![0xde, 0xad]));
        assert_eq!(parse_hex("de:ad be"), Some(vec![0xde, 0xad, 0xbe]));
        assert_eq!(parse_hex(""), Some(vec![]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
    }

    #[test]
    fn listen_args() {
        let c = p("--as-uid 65534 listen --group 0x10 --count=3 --timeout-ms 500 --match-idx 14 --match-val 0x456").unwrap();
        assert_eq!(c.as_uid, Some(65534));
        assert_eq!(
            c.cmd,
            Command::Listen(ListenOpts {
                group: 16,
                count: Some(3),
                timeout_ms: Some(500),
                match_idx: Some(14),
                match_val: Some(0x456),
                output: NO_OUTPUT,
            })
        );
        assert!(is_err("listen"));
        assert!(is_err("listen --group 1 --group 2"));
        assert!(is_err("listen --group 1 --bogus"));
        assert!(is_err("listen --group"));
        // global options anywhere
        let c = p("listen --group 1 --as-uid 5 --make-it-fail").unwrap();
        assert_eq!((c.as_uid, c.make_it_fail), (Some(5), true));
        assert!(is_err("--as-uid 5 listen --group 1 --as-uid 6"));
        assert!(is_err("--as-uid=5 listen --group 1 --as-uid=6"));
    }

    #[test]
    fn output_args() {
        let Command::Listen(o) = cmd("listen --group 1 --json --timestamps=wall") else {
            panic!()
        };
        assert_eq!(
            o.output,
            OutputOpts {
                json: true,
                timestamps: Some(Clock::Wall)
            }
        );
        let Command::Proc(o) = cmd("proc --timestamps mono --resolve") else {
            panic!()
        };
        assert_eq!(o.output.timestamps, Some(Clock::Mono));
        assert!(o.resolve);
        for line in [
            "send --idx 1 --val 1 --json --timestamps mono",
            "raw --hex 00 --json",
            "notify --add 1 --listen-ms 5 --json --timestamps wall",
            "bind --group 1 --json",
        ] {
            assert!(p(line).is_ok(), "{line}");
        }
        assert!(is_err("listen --group 1 --timestamps utc"));
        assert!(is_err("bind --group 1 --timestamps wall"));
        assert!(is_err("flood --idx 1 --val 1 --count 1 --json"));
    }

    #[test]
    fn send_args() {
        let c = cmd("send --idx 1 --val 2 --seq 3 --ack 4 --flags 5 --data hi --nul --nl-ack --reply-timeout-ms 100 --group 7");
        let Command::Send(s) = c else { panic!() };
        assert_eq!(
            (s.idx, s.val, s.seq, s.ack, s.flags, s.nl_ack),
            (1, 2, 3, 4, 5, true)
        );
        assert_eq!(s.payload(), b"hi\0");
        assert_eq!((s.reply_timeout_ms, s.group), (Some(100), Some(7)));
        let Command::Send(s) = cmd("send --idx 1 --val 2 --hex 0102") else {
            panic!()
        };
        assert_eq!(s.payload(), vec![1, 2]);
        assert_eq!((s.seq, s.ack, s.flags, s.nl_ack), (0, 0, 0, false));
        let Command::Send(s) = cmd("send --idx 1 --val 2 --data -x --nul") else {
            panic!()
        };
        assert_eq!(s.payload(), b"-x\0");
        let Command::Send(s) = cmd("send --idx=1 --val=0x456") else {
            panic!()
        };
        assert_eq!(s.payload(), b"");
        assert!(is_err("send --idx 1 --val 2 --hex 01 --data x"));
        assert!(is_err("send --idx 1"));
        assert!(is_err("send --idx 1 --val 2 --nul=1"));
        assert!(is_err("send --idx 1 --val 2 --hex 0"));
        let long = format!("send --idx 1 --val 2 --data {}", "x".repeat(MAX_DATA));
        assert!(p(&long).is_ok());
        let e = usage(&format!("{long} --nul"));
        assert_eq!(
            e.to_string(),
            "cnctl: data longer than 65535 bytes (see 'cnctl send --help')"
        );
        assert!(is_err(&format!(
            "send --idx 1 --val 2 --data {}",
            "x".repeat(MAX_DATA + 1)
        )));
    }

    #[test]
    fn notify_args() {
        let c = cmd("notify --add 5 --idx 0x10:2,20:1 --val 1:1 --nl-ack --listen-ms 300");
        assert_eq!(
            c,
            Command::Notify(NotifyOpts {
                add: Some(5),
                remove: false,
                ctl_idx: u32::MAX,
                ctl_val: u32::MAX,
                idx: Ranges(vec![
                    NotifyReq {
                        first: 16,
                        range: 2
                    },
                    NotifyReq {
                        first: 20,
                        range: 1
                    }
                ]),
                val: Ranges(vec![NotifyReq { first: 1, range: 1 }]),
                nl_ack: true,
                listen_ms: Some(300),
                output: NO_OUTPUT,
            })
        );
        let Command::Notify(n) = cmd("notify --remove --ctl-idx 1 --ctl-val 2 --idx 3:4 --val 5:6")
        else {
            panic!()
        };
        assert_eq!((n.add, n.remove, n.ctl_idx, n.ctl_val), (None, true, 1, 2));
        assert!(is_err("notify --idx 1:1 --val 1:1"));
        assert!(is_err("notify --add 1 --remove --idx 1:1 --val 1:1"));
        assert!(is_err("notify --remove --idx 1:1 --val 1:1 --listen-ms 5"));
        assert!(is_err("notify --add 1 --idx 1 --val 1:1"));
        assert!(is_err("notify --add 1 --idx 1:x"));
    }

    #[test]
    fn proc_args() {
        assert_eq!(
            cmd("proc"),
            Command::Proc(ProcOpts {
                filter: 0xe000_03c7,
                count: None,
                timeout_ms: None,
                ignore_after_ms: None,
                legacy: false,
                op: 1,
                resolve: false,
                output: NO_OUTPUT,
            })
        );
        let c = p("--as-uid 1000 proc --filter 0x80000001 --count 3 --timeout-ms 900 --ignore-after-ms 100 --op 3")
            .unwrap();
        assert_eq!(c.as_uid, Some(1000));
        assert_eq!(
            c.cmd,
            Command::Proc(ProcOpts {
                filter: 0x8000_0001,
                count: Some(3),
                timeout_ms: Some(900),
                ignore_after_ms: Some(100),
                legacy: false,
                op: 3,
                resolve: false,
                output: NO_OUTPUT,
            })
        );
        let Command::Proc(o) = cmd("proc --legacy") else {
            panic!()
        };
        assert!(o.legacy);
        assert!(is_err("proc --legacy --filter 1"));
        assert!(is_err("proc --filter"));
        assert!(is_err("proc --filter 0x100000000"));
        assert!(is_err("proc --group 1"));
    }

    #[test]
    fn symbolic_filter() {
        let filter = |s: &str| match cmd(&format!("proc --filter {s}")) {
            Command::Proc(o) => o.filter,
            other => panic!("{other:?}"),
        };
        assert_eq!(filter("fork"), PROC_EVENT_FORK);
        assert_eq!(filter("all"), PROC_EVENT_ALL);
        assert_eq!(filter("fork,exit"), PROC_EVENT_FORK | PROC_EVENT_EXIT);
        assert_eq!(filter("exec,0x200"), 0x2 | PROC_EVENT_COMM);
        assert_eq!(filter("nonzero-exit"), 0x2000_0000);
        assert_eq!(
            filter("fork,exec,uid,gid,sid,ptrace,comm,coredump,exit,nonzero-exit"),
            PROC_EVENT_ALL
        );
        let Command::Proc(o) = cmd("proc --filter=1,2") else {
            panic!()
        };
        assert_eq!(o.filter, 3);
        assert_eq!(event_mask("0"), Ok(0));
        for bad in ["forks", "fork,", "", "Fork", "fork,,exec", "0x1g"] {
            assert!(event_mask(bad).is_err(), "{bad}");
        }
        let e = usage("proc --filter fork,forks");
        assert!(e.what.contains("unknown event 'forks'"), "{e}");
        assert!(e.what.contains("nonzero-exit"), "{e}");
        assert_eq!(e.command, "proc");
    }

    #[test]
    fn other_commands() {
        assert_eq!(
            cmd("bind --group 3"),
            Command::Bind(BindOpts {
                group: 3,
                json: false
            })
        );
        assert_eq!(
            cmd("raw --hex 1000 --nl-ack"),
            Command::Raw(RawOpts {
                hex: Bytes(vec![0x10, 0]),
                nl_ack: true,
                output: NO_OUTPUT,
            })
        );
        assert_eq!(
            cmd("flood --idx 1 --val 2 --count 10"),
            Command::Flood(FloodOpts {
                idx: 1,
                val: 2,
                count: 10,
                data: None,
                reply: false,
            })
        );
        let Command::Flood(f) = cmd("flood --idx 1 --val 2 --count 10 --data x --reply") else {
            panic!()
        };
        assert_eq!((f.data, f.reply), (Some(Bytes(b"x".to_vec())), true));
        assert!(
            p("--make-it-fail --as-uid 3 bind --group 1")
                .unwrap()
                .make_it_fail
        );
        assert!(!p("bind --group 1").unwrap().make_it_fail);
        assert!(is_err(""));
        assert!(is_err("--as-uid"));
        assert!(is_err("frobnicate"));
        assert!(is_err("raw"));
    }

    #[test]
    fn fuzz_args() {
        let c = p("fuzz --seed 0x10 --count 20000 --as-uid 1000 --batch-max 64").unwrap();
        assert_eq!(c.as_uid, Some(1000));
        assert_eq!(
            c.cmd,
            Command::Fuzz(FuzzOpts {
                seed: 16,
                count: 20000,
                batch_max: 64,
            })
        );
        let Command::Fuzz(f) = cmd("fuzz --seed 1 --count 2") else {
            panic!()
        };
        assert_eq!(f.batch_max, DEFAULT_BATCH_MAX);
        assert!(is_err("fuzz --count 2"));
        assert!(is_err("fuzz --seed 1"));
        assert!(is_err("fuzz --seed 1 --count 2 --batch-max 0"));
        assert!(is_err("--as-uid 5 fuzz --seed 1 --count 2 --as-uid 5"));
        let c = p("--make-it-fail --as-uid 1000 fuzz --seed 2200 --count 50").unwrap();
        assert_eq!((c.make_it_fail, c.as_uid), (true, Some(1000)));
    }

    #[test]
    fn insmod_rmmod_args() {
        assert_eq!(
            cmd("insmod --fail-nth 7 /modules/cn_test.ko interval_ms=0 reply=1"),
            Command::Insmod(InsmodOpts {
                fail_nth: Some(7),
                file: "/modules/cn_test.ko".into(),
                params: vec!["interval_ms=0".into(), "reply=1".into()],
            })
        );
        assert_eq!(
            cmd("insmod --fail-nth=2 x.ko"),
            Command::Insmod(InsmodOpts {
                fail_nth: Some(2),
                file: "x.ko".into(),
                params: vec![],
            })
        );
        let Command::Insmod(i) = cmd("insmod x.ko") else {
            panic!()
        };
        assert_eq!(i.fail_nth, None);
        assert!(is_err("insmod"));
        assert!(is_err("insmod --fail-nth 3"));
        assert!(is_err("insmod --fail-nth 0 x.ko"));
        assert!(is_err("insmod --bogus x.ko"));
        let spaced = parse(["cnctl", "insmod", "x.ko", "a=1 b=2"]);
        assert!(matches!(spaced, Err(Early::Usage(_))));
        assert_eq!(
            cmd("rmmod cn_test.ko"),
            Command::Rmmod(RmmodOpts {
                name: "cn_test".into()
            })
        );
        assert!(is_err("rmmod"));
        assert!(is_err("rmmod a b"));
        assert!(is_err("rmmod .ko"));
    }

    #[test]
    fn bench_args() {
        let b = |s: &str| match cmd(s) {
            Command::Bench(o) => o.opts(),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            b("bench send --size 64 --count 100000 --threads 4 --proto 30"),
            BenchOpts {
                kind: BenchKind::Send,
                proto: 30,
                count: 100_000,
                size: 64,
                threads: 4,
                listeners: 0,
            }
        );
        assert_eq!(
            b("bench send --size=0 --count=1"),
            BenchOpts {
                kind: BenchKind::Send,
                proto: 11,
                count: 1,
                size: 0,
                threads: 1,
                listeners: 0,
            }
        );
        assert_eq!(
            b("bench rtt --size 16384 --count 0x10"),
            BenchOpts {
                kind: BenchKind::Rtt,
                proto: 11,
                count: 16,
                size: 16384,
                threads: 1,
                listeners: 0,
            }
        );
        assert_eq!(
            b("bench bcast --size 256 --count 1000 --listeners 3 --threads 2"),
            BenchOpts {
                kind: BenchKind::Bcast,
                proto: 11,
                count: 1000,
                size: 256,
                threads: 2,
                listeners: 3,
            }
        );
        assert_eq!(
            b("bench adddel --count 10000 --proto 11"),
            BenchOpts {
                kind: BenchKind::AddDel,
                proto: 11,
                count: 10000,
                size: 0,
                threads: 1,
                listeners: 0,
            }
        );
        assert_eq!(
            b("bench percb --count 500"),
            BenchOpts {
                kind: BenchKind::PerCb,
                proto: 11,
                count: 500,
                size: 0,
                threads: 1,
                listeners: 0,
            }
        );
        assert_eq!(b("--as-uid 0 bench adddel --count 1").count, 1);
        // the order of bench.sh: options after the measurement, --proto last
        assert_eq!(b("bench rtt --size 0 --count 200 --proto 30").proto, 30);
        // missing or unknown measurement
        assert!(is_err("bench"));
        assert!(is_err("bench sendd --size 1 --count 1"));
        // required options
        assert!(is_err("bench send --count 1"));
        assert!(is_err("bench send --size 1"));
        assert!(is_err("bench rtt --size 1"));
        assert!(is_err("bench bcast --size 1 --count 1"));
        assert!(is_err("bench adddel"));
        assert!(is_err("bench percb"));
        // options a measurement does not take
        assert!(is_err("bench rtt --size 1 --count 1 --threads 2"));
        assert!(is_err("bench send --size 1 --count 1 --listeners 2"));
        assert!(is_err("bench adddel --count 1 --size 1"));
        assert!(is_err("bench percb --count 1 --threads 1"));
        // ranges
        assert!(is_err("bench send --size 65536 --count 1"));
        assert!(p("bench send --size 65535 --count 1").is_ok());
        assert!(is_err("bench send --size 1 --count 0"));
        assert!(is_err("bench send --size 1 --count 0x100000000"));
        assert!(is_err("bench send --size 1 --count 1 --threads 0"));
        assert!(is_err("bench send --size 1 --count 1 --threads 1025"));
        assert!(is_err("bench bcast --size 1 --count 1 --listeners 0"));
        assert!(is_err("bench adddel --count 1 --proto 32"));
        assert!(p("bench adddel --count 1 --proto 31").is_ok());
        assert!(is_err("bench adddel --count 1 --count 2"));
        assert!(is_err("bench adddel --count"));
    }

    /// Every command line of the repository's scripts (tests/guest, README), with its
    /// variables filled in.
    #[test]
    fn command_lines_of_the_repository() {
        for line in [
            "listen --group 14 --count 3 --timeout-ms 10000",
            "listen --group 1 --timeout-ms 100000",
            "send --idx 14 --val 0x456 --seq 1 --ack 7 --data hello --nul --reply-timeout-ms 3000",
            "send --idx 14 --val 1110 --seq 42 --ack 7 --data hello --nul",
            "send --idx 14 --val 1110 --seq 1234 --ack 99 --data ping --nul --reply-timeout-ms 3000",
            "send --idx 14 --val 0x999 --seq 502 --nl-ack",
            "send --idx 1 --val 1 --hex 01000000",
            "send --idx 77 --val 77 --nl-ack",
            "send --idx 16 --val 1 --seq 1 --data lock",
            "--make-it-fail send --idx 14 --val 1110 --seq 7100 --data faulty --nul --nl-ack",
            "--as-uid 1000 raw --hex 2c000000",
            "raw --nl-ack --hex 00112233",
            "raw --hex 00 --nl-ack",
            "flood --idx 14 --val 1110 --count 3000 --data flood",
            "--as-uid 1000 flood --idx 14 --val 1110 --count 100000000 --data x",
            "--as-uid 1000 bind --group 14",
            "bind --group 25",
            "--as-uid 1000 notify --add 5 --idx 14:1 --val 0x456:2 --nl-ack",
            "notify --add 8 --idx 14:1 --val 0x456:2 --nl-ack --listen-ms 600000",
            "notify --remove --idx 14:1 --val 0x456:1,0x457:1 --nl-ack",
            "proc --timeout-ms 8000",
            "--as-uid 1000 proc --timeout-ms 3000",
            "proc --filter 1 --timeout-ms 1500",
            "proc --op 3 --timeout-ms 1000",
            "proc --timeout-ms 36000000",
            "--make-it-fail proc --count 0 --timeout-ms 200",
            "fuzz --seed 1 --count 10000",
            "fuzz --seed 2 --count 10000 --as-uid 1000",
            "--make-it-fail --as-uid 1000 fuzz --seed 2200 --count 50",
            "insmod --fail-nth 4 /modules/connector.ko",
            "--make-it-fail insmod /modules/cn_test.ko interval_ms=0",
            "--make-it-fail rmmod cn_test",
            "bench send --proto 11 --size 0 --count 100",
            "bench bcast --size 0 --listeners 1 --count 200 --proto 30",
            "bench adddel --proto 11 --count 10000",
        ] {
            if let Err(e) = p(line) {
                panic!("'{line}': {e:?}");
            }
        }
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_command() {
        for (line, command) in [
            ("listen --group 1 --bogus", "listen"),
            ("--as-uid 5 listen", "listen"),
            ("bench send --size 1", "bench send"),
            ("bench", "bench"),
            ("", ""),
            ("frobnicate", ""),
            ("--as-uid x proc", "proc"),
        ] {
            let e = usage(line);
            assert_eq!(e.command, command, "{line}");
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.starts_with("cnctl: "), "{text}");
            assert!(text.ends_with(" --help')"), "{text}");
            assert!(!e.what.is_empty() && !e.what.starts_with("error"), "{text}");
        }
        assert_eq!(
            usage("listen --group 1 --bogus").to_string(),
            "cnctl: unexpected argument '--bogus' found (see 'cnctl listen --help')"
        );
        assert_eq!(
            usage("").to_string(),
            "cnctl: missing command (see 'cnctl --help')"
        );
        assert_eq!(
            usage("bench").to_string(),
            "cnctl: missing command (see 'cnctl bench --help')"
        );
    }

    /// The help of `path` (`--help` after it).
    fn help(path: &str) -> String {
        match p(&format!("{path} --help")) {
            Err(Early::Info(text)) => text,
            other => panic!("'{path} --help': {other:?}"),
        }
    }

    #[test]
    fn help_of_every_command() {
        let top = help("");
        for word in [
            "listen",
            "send",
            "raw",
            "flood",
            "bind",
            "notify",
            "proc",
            "fuzz",
            "insmod",
            "rmmod",
            "bench",
            "--as-uid",
            "--make-it-fail",
            "--version",
            "Exit status:",
            "64",
            "SIGTERM",
            "Examples:",
        ] {
            assert!(top.contains(word), "top-level help lacks {word}:\n{top}");
        }
        let commands: &[(&str, &[&str])] = &[
            (
                "listen",
                &[
                    "--group",
                    "--count",
                    "--timeout-ms",
                    "--match-idx",
                    "--match-val",
                ],
            ),
            (
                "send",
                &[
                    "--idx",
                    "--val",
                    "--seq",
                    "--ack",
                    "--flags",
                    "--data",
                    "--hex",
                    "--nul",
                    "--nl-ack",
                    "--reply-timeout-ms",
                    "--group",
                ],
            ),
            ("raw", &["--hex", "--nl-ack"]),
            ("flood", &["--idx", "--val", "--count", "--data", "--reply"]),
            ("bind", &["--group", "--json"]),
            (
                "notify",
                &[
                    "--add",
                    "--remove",
                    "--ctl-idx",
                    "--ctl-val",
                    "--idx",
                    "--val",
                    "--nl-ack",
                    "--listen-ms",
                ],
            ),
            (
                "proc",
                &[
                    "--filter",
                    "nonzero-exit",
                    "--count",
                    "--timeout-ms",
                    "--ignore-after-ms",
                    "--legacy",
                    "--op",
                    "--resolve",
                ],
            ),
            ("fuzz", &["--seed", "--count", "--batch-max"]),
            ("insmod", &["--fail-nth", "FILE.ko", "PARAM=VALUE"]),
            ("rmmod", &["NAME"]),
            ("bench", &["send", "rtt", "bcast", "adddel", "percb"]),
            ("bench send", &["--size", "--count", "--threads", "--proto"]),
            ("bench rtt", &["--size", "--count", "--proto"]),
            (
                "bench bcast",
                &["--size", "--count", "--listeners", "--threads", "--proto"],
            ),
            ("bench adddel", &["--count", "--proto"]),
            ("bench percb", &["--count", "--proto"]),
        ];
        for (path, options) in commands {
            let text = help(path);
            for option in options
                .iter()
                .chain(&["Examples:", "--as-uid", "--make-it-fail"])
            {
                assert!(
                    text.contains(option),
                    "'{path} --help' lacks {option}:\n{text}"
                );
            }
        }
        for receiving in ["listen", "send", "raw", "notify", "proc"] {
            let text = help(receiving);
            for option in ["--json", "--timestamps"] {
                assert!(text.contains(option), "'{receiving} --help' lacks {option}");
            }
        }
    }

    #[test]
    fn version() {
        let Err(Early::Info(text)) = p("--version") else {
            panic!()
        };
        assert_eq!(text.trim(), format!("cnctl {}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
