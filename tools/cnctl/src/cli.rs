//! Hand-written command-line parser.

use crate::fuzz::DEFAULT_BATCH_MAX;
use crate::wire::{NotifyReq, PROC_CN_MCAST_LISTEN, PROC_EVENT_ALL};

pub const USAGE: &str = "\
usage: cnctl [--as-uid UID] [--make-it-fail] COMMAND [OPTIONS]

commands:
  listen --group G [--count N] [--timeout-ms T] [--match-idx I] [--match-val V]
  send   --idx I --val V [--seq S] [--ack A] [--flags F] [--data TEXT | --hex HEX]
         [--nul] [--nl-ack] [--reply-timeout-ms T] [--group G]
  raw    --hex HEX [--nl-ack]
  flood  --idx I --val V --count N [--data TEXT]
  bind   --group G
  notify (--add GROUP | --remove) [--ctl-idx CI] [--ctl-val CV]
         --idx FIRST:RANGE[,...] --val FIRST:RANGE[,...] [--nl-ack] [--listen-ms T]
  proc   [--filter MASK] [--count N] [--timeout-ms T] [--ignore-after-ms T]
         [--legacy] [--op OP]
  fuzz   --seed S --count N [--as-uid UID] [--batch-max M]
  insmod [--fail-nth N] FILE.ko [PARAM=VALUE...]
  rmmod  NAME
  bench  send   --size S --count N [--threads T] [--proto P]
  bench  rtt    --size S --count N [--proto P]
  bench  bcast  --size S --count N --listeners L [--threads T] [--proto P]
  bench  adddel --count N [--proto P]
  bench  percb  --count N [--proto P]

numbers are decimal or 0x-prefixed hex; options also accept --opt=VALUE.
";

/// A usage error (exit code 64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Res<T> = Result<T, UsageError>;

fn err<T>(msg: impl Into<String>) -> Res<T> {
    Err(UsageError(msg.into()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub as_uid: Option<u32>,
    /// Set /proc/thread-self/make-it-fail before anything else (fault
    /// injection with task-filter).
    pub make_it_fail: bool,
    pub cmd: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Listen(ListenOpts),
    Send(SendOpts),
    Raw(RawOpts),
    Flood(FloodOpts),
    Bind { group: u32 },
    Notify(NotifyOpts),
    Proc(ProcOpts),
    Fuzz(FuzzOpts),
    Insmod(InsmodOpts),
    Rmmod { name: String },
    Bench(BenchOpts),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOpts {
    pub group: u32,
    pub count: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub match_idx: Option<u32>,
    pub match_val: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOpts {
    pub idx: u32,
    pub val: u32,
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub data: Vec<u8>,
    pub nl_ack: bool,
    pub reply_timeout_ms: Option<u64>,
    pub group: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOpts {
    pub bytes: Vec<u8>,
    pub nl_ack: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodOpts {
    pub idx: u32,
    pub val: u32,
    pub count: u64,
    pub data: Vec<u8>,
    /// Wait for each message's reply (seq, ack + 1) before sending the next: round trips.
    pub reply: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOpts {
    /// `Some(group)` for --add, `None` for --remove.
    pub add_group: Option<u32>,
    pub ctl_idx: u32,
    pub ctl_val: u32,
    pub idx_reqs: Vec<NotifyReq>,
    pub val_reqs: Vec<NotifyReq>,
    pub nl_ack: bool,
    pub listen_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcOpts {
    /// The event mask of the request (`struct proc_input.event_type`).
    pub filter: u32,
    /// Stop after this many process events (acknowledgements not counted).
    pub count: Option<u64>,
    pub timeout_ms: Option<u64>,
    /// Send PROC_CN_MCAST_IGNORE after this long, and keep listening.
    pub ignore_after_ms: Option<u64>,
    /// Send the bare 4-byte operation of older kernels instead of
    /// `struct proc_input`.
    pub legacy: bool,
    /// The operation of the first request (PROC_CN_MCAST_LISTEN).
    pub op: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzOpts {
    pub seed: u64,
    /// Datagrams to send.
    pub count: u64,
    /// Drop privileges to this uid (and gid) first, as the global option does.
    pub as_uid: Option<u32>,
    /// The most netlink messages in one datagram.
    pub batch_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsmodOpts {
    /// Fail the N-th slab allocation of the load (/proc/thread-self/fail-nth).
    pub fail_nth: Option<u32>,
    pub file: String,
    /// The module parameters, joined by spaces.
    pub params: String,
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOpts {
    pub kind: BenchKind,
    /// The netlink protocol of the sockets (11: NETLINK_CONNECTOR).
    pub proto: u32,
    /// Messages per thread (send, rtt), broadcasts per request (bcast),
    /// pairs (adddel), callbacks (percb). At least 1.
    pub count: u32,
    /// Data bytes per message (send, rtt, bcast; 0 otherwise).
    pub size: u16,
    /// Sending (send) or requesting (bcast) threads; 1 otherwise.
    pub threads: u32,
    /// Listener threads (bcast; 0 otherwise).
    pub listeners: u32,
}

/// The default of `bench --proto`: NETLINK_CONNECTOR.
pub const BENCH_DEFAULT_PROTO: u32 = 11;
/// The most threads (or listeners) `bench` starts.
pub const BENCH_MAX_THREADS: u32 = 1024;
/// Netlink protocol numbers are below `MAX_LINKS`.
const NETLINK_MAX_LINKS: u32 = 32;

fn parse_bench(args: &[String]) -> Res<BenchOpts> {
    let Some((kind_name, rest)) = args.split_first() else {
        return err("bench: missing send, rtt, bcast, adddel or percb");
    };
    let (kind, cmd, spec): (BenchKind, &'static str, &[(&'static str, bool)]) =
        match kind_name.as_str() {
            "send" => (
                BenchKind::Send,
                "bench send",
                &[
                    ("--size", true),
                    ("--count", true),
                    ("--threads", true),
                    ("--proto", true),
                ],
            ),
            "rtt" => (
                BenchKind::Rtt,
                "bench rtt",
                &[("--size", true), ("--count", true), ("--proto", true)],
            ),
            "bcast" => (
                BenchKind::Bcast,
                "bench bcast",
                &[
                    ("--size", true),
                    ("--count", true),
                    ("--listeners", true),
                    ("--threads", true),
                    ("--proto", true),
                ],
            ),
            "adddel" => (
                BenchKind::AddDel,
                "bench adddel",
                &[("--count", true), ("--proto", true)],
            ),
            "percb" => (
                BenchKind::PerCb,
                "bench percb",
                &[("--count", true), ("--proto", true)],
            ),
            other => return err(format!("bench: unknown measurement '{other}'")),
        };
    let o = Opts::parse(cmd, rest, spec)?;
    let size = match kind {
        BenchKind::Send | BenchKind::Rtt | BenchKind::Bcast => num_u16("--size", o.req("--size")?)?,
        BenchKind::AddDel | BenchKind::PerCb => 0,
    };
    let count = o.u32_req("--count")?;
    if count == 0 {
        return err(format!("{cmd}: --count must be at least 1"));
    }
    let threads = o.u32_opt("--threads")?.unwrap_or(1);
    if !(1..=BENCH_MAX_THREADS).contains(&threads) {
        return err(format!("{cmd}: --threads must be 1..{BENCH_MAX_THREADS}"));
    }
    let listeners = if kind == BenchKind::Bcast {
        let l = o.u32_req("--listeners")?;
        if !(1..=BENCH_MAX_THREADS).contains(&l) {
            return err(format!("{cmd}: --listeners must be 1..{BENCH_MAX_THREADS}"));
        }
        l
    } else {
        0
    };
    let proto = o.u32_opt("--proto")?.unwrap_or(BENCH_DEFAULT_PROTO);
    if proto >= NETLINK_MAX_LINKS {
        return err(format!(
            "{cmd}: --proto must be a netlink protocol number below {NETLINK_MAX_LINKS}"
        ));
    }
    Ok(BenchOpts {
        kind,
        proto,
        count,
        size,
        threads,
        listeners,
    })
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

fn num_u64(opt: &str, s: &str) -> Res<u64> {
    parse_num(s).map_or_else(|| err(format!("{opt}: not a number: '{s}'")), Ok)
}

fn num_u32(opt: &str, s: &str) -> Res<u32> {
    u32::try_from(num_u64(opt, s)?).or_else(|_| err(format!("{opt}: out of range (u32): '{s}'")))
}

fn num_u16(opt: &str, s: &str) -> Res<u16> {
    u16::try_from(num_u64(opt, s)?).or_else(|_| err(format!("{opt}: out of range (u16): '{s}'")))
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

/// Parse `FIRST:RANGE[,FIRST:RANGE...]`.
pub fn parse_ranges(opt: &str, s: &str) -> Res<Vec<NotifyReq>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|item| {
            let Some((first, range)) = item.split_once(':') else {
                return err(format!("{opt}: expected FIRST:RANGE, got '{item}'"));
            };
            Ok(NotifyReq {
                first: num_u32(opt, first)?,
                range: num_u32(opt, range)?,
            })
        })
        .collect()
}

/// Options given to one subcommand, in order.
struct Opts {
    cmd: &'static str,
    items: Vec<(&'static str, Option<String>)>,
}

impl Opts {
    /// Parse `args` against `spec`: a list of (name, takes_value).
    fn parse(cmd: &'static str, args: &[String], spec: &[(&'static str, bool)]) -> Res<Opts> {
        let mut items: Vec<(&'static str, Option<String>)> = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let Some(&(sname, takes)) = spec.iter().find(|(n, _)| *n == name) else {
                return err(format!("{cmd}: unknown option or argument '{a}'"));
            };
            if items.iter().any(|(n, _)| *n == sname) {
                return err(format!("{cmd}: option {sname} given twice"));
            }
            let value = match (takes, inline) {
                (true, Some(v)) => Some(v),
                (true, None) => match it.next() {
                    Some(v) => Some(v.clone()),
                    None => return err(format!("{cmd}: option {sname} needs a value")),
                },
                (false, Some(_)) => return err(format!("{cmd}: option {sname} takes no value")),
                (false, None) => None,
            };
            items.push((sname, value));
        }
        Ok(Opts { cmd, items })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.items.iter().any(|(n, _)| *n == name)
    }

    fn req(&self, name: &str) -> Res<&str> {
        self.get(name)
            .map_or_else(|| err(format!("{}: missing {name}", self.cmd)), Ok)
    }

    fn u32_opt(&self, name: &str) -> Res<Option<u32>> {
        self.get(name).map(|v| num_u32(name, v)).transpose()
    }

    fn u64_opt(&self, name: &str) -> Res<Option<u64>> {
        self.get(name).map(|v| num_u64(name, v)).transpose()
    }

    fn u32_req(&self, name: &str) -> Res<u32> {
        num_u32(name, self.req(name)?)
    }
}

pub fn parse(args: &[String]) -> Res<Cli> {
    let mut as_uid = None;
    let mut make_it_fail = false;
    let mut i = 0;
    loop {
        let Some(a) = args.get(i) else {
            return err("missing command");
        };
        if a == "--make-it-fail" {
            make_it_fail = true;
            i += 1;
        } else if a == "--as-uid" {
            let v = args
                .get(i + 1)
                .map_or_else(|| err("--as-uid needs a value"), Ok)?;
            as_uid = Some(num_u32("--as-uid", v)?);
            i += 2;
        } else if let Some(v) = a.strip_prefix("--as-uid=") {
            as_uid = Some(num_u32("--as-uid", v)?);
            i += 1;
        } else {
            break;
        }
    }
    let cmd_name = args[i].as_str();
    let rest = &args[i + 1..];
    let cmd = match cmd_name {
        "-h" | "--help" | "help" => Command::Help,
        "listen" => {
            let o = Opts::parse(
                "listen",
                rest,
                &[
                    ("--group", true),
                    ("--count", true),
                    ("--timeout-ms", true),
                    ("--match-idx", true),
                    ("--match-val", true),
                ],
            )?;
            Command::Listen(ListenOpts {
                group: o.u32_req("--group")?,
                count: o.u64_opt("--count")?,
                timeout_ms: o.u64_opt("--timeout-ms")?,
                match_idx: o.u32_opt("--match-idx")?,
                match_val: o.u32_opt("--match-val")?,
            })
        }
        "send" => {
            let o = Opts::parse(
                "send",
                rest,
                &[
                    ("--idx", true),
                    ("--val", true),
                    ("--seq", true),
                    ("--ack", true),
                    ("--flags", true),
                    ("--data", true),
                    ("--hex", true),
                    ("--nul", false),
                    ("--nl-ack", false),
                    ("--reply-timeout-ms", true),
                    ("--group", true),
                ],
            )?;
            let mut data = match (o.get("--data"), o.get("--hex")) {
                (Some(_), Some(_)) => return err("send: --data and --hex are exclusive"),
                (Some(t), None) => t.as_bytes().to_vec(),
                (None, Some(h)) => parse_hex(h)
                    .map_or_else(|| err(format!("--hex: not a hex byte string: '{h}'")), Ok)?,
                (None, None) => Vec::new(),
            };
            if o.has("--nul") {
                data.push(0);
            }
            if data.len() > usize::from(u16::MAX) {
                return err("send: data longer than 65535 bytes");
            }
            Command::Send(SendOpts {
                idx: o.u32_req("--idx")?,
                val: o.u32_req("--val")?,
                seq: o.u32_opt("--seq")?.unwrap_or(0),
                ack: o.u32_opt("--ack")?.unwrap_or(0),
                flags: o
                    .get("--flags")
                    .map(|v| num_u16("--flags", v))
                    .transpose()?
                    .unwrap_or(0),
                data,
                nl_ack: o.has("--nl-ack"),
                reply_timeout_ms: o.u64_opt("--reply-timeout-ms")?,
                group: o.u32_opt("--group")?,
            })
        }
        "raw" => {
            let o = Opts::parse("raw", rest, &[("--hex", true), ("--nl-ack", false)])?;
            let h = o.req("--hex")?;
            let bytes = parse_hex(h)
                .map_or_else(|| err(format!("--hex: not a hex byte string: '{h}'")), Ok)?;
            Command::Raw(RawOpts {
                bytes,
                nl_ack: o.has("--nl-ack"),
            })
        }
        "flood" => {
            let o = Opts::parse(
                "flood",
                rest,
                &[
                    ("--idx", true),
                    ("--val", true),
                    ("--count", true),
                    ("--data", true),
                    ("--reply", false),
                ],
            )?;
            let data = o.get("--data").unwrap_or("").as_bytes().to_vec();
            if data.len() > usize::from(u16::MAX) {
                return err("flood: data longer than 65535 bytes");
            }
            Command::Flood(FloodOpts {
                idx: o.u32_req("--idx")?,
                val: o.u32_req("--val")?,
                count: num_u64("--count", o.req("--count")?)?,
                data,
                reply: o.has("--reply"),
            })
        }
        "bind" => {
            let o = Opts::parse("bind", rest, &[("--group", true)])?;
            Command::Bind {
                group: o.u32_req("--group")?,
            }
        }
        "notify" => {
            let o = Opts::parse(
                "notify",
                rest,
                &[
                    ("--add", true),
                    ("--remove", false),
                    ("--ctl-idx", true),
                    ("--ctl-val", true),
                    ("--idx", true),
                    ("--val", true),
                    ("--nl-ack", false),
                    ("--listen-ms", true),
                ],
            )?;
            let add_group = match (o.u32_opt("--add")?, o.has("--remove")) {
                (Some(_), true) => return err("notify: --add and --remove are exclusive"),
                (None, false) => return err("notify: one of --add GROUP or --remove is needed"),
                (g, _) => g,
            };
            let listen_ms = o.u64_opt("--listen-ms")?;
            if listen_ms.is_some() && add_group.is_none() {
                return err("notify: --listen-ms needs --add GROUP");
            }
            Command::Notify(NotifyOpts {
                add_group,
                ctl_idx: o.u32_opt("--ctl-idx")?.unwrap_or(u32::MAX),
                ctl_val: o.u32_opt("--ctl-val")?.unwrap_or(u32::MAX),
                idx_reqs: parse_ranges("--idx", o.get("--idx").unwrap_or(""))?,
                val_reqs: parse_ranges("--val", o.get("--val").unwrap_or(""))?,
                nl_ack: o.has("--nl-ack"),
                listen_ms,
            })
        }
        "proc" => {
            let o = Opts::parse(
                "proc",
                rest,
                &[
                    ("--filter", true),
                    ("--count", true),
                    ("--timeout-ms", true),
                    ("--ignore-after-ms", true),
                    ("--legacy", false),
                    ("--op", true),
                ],
            )?;
            let legacy = o.has("--legacy");
            if legacy && o.has("--filter") {
                return err("proc: --legacy requests carry no --filter");
            }
            Command::Proc(ProcOpts {
                filter: o.u32_opt("--filter")?.unwrap_or(PROC_EVENT_ALL),
                count: o.u64_opt("--count")?,
                timeout_ms: o.u64_opt("--timeout-ms")?,
                ignore_after_ms: o.u64_opt("--ignore-after-ms")?,
                legacy,
                op: o.u32_opt("--op")?.unwrap_or(PROC_CN_MCAST_LISTEN),
            })
        }
        "fuzz" => {
            let o = Opts::parse(
                "fuzz",
                rest,
                &[
                    ("--seed", true),
                    ("--count", true),
                    ("--as-uid", true),
                    ("--batch-max", true),
                ],
            )?;
            let fuzz_uid = o.u32_opt("--as-uid")?;
            if fuzz_uid.is_some() && as_uid.is_some() {
                return err("fuzz: --as-uid given twice (before and after the command)");
            }
            let batch_max = o.u32_opt("--batch-max")?.unwrap_or(DEFAULT_BATCH_MAX);
            if batch_max == 0 {
                return err("fuzz: --batch-max must be at least 1");
            }
            Command::Fuzz(FuzzOpts {
                seed: num_u64("--seed", o.req("--seed")?)?,
                count: num_u64("--count", o.req("--count")?)?,
                as_uid: fuzz_uid,
                batch_max,
            })
        }
        "insmod" => {
            let mut fail_nth = None;
            let mut it = rest.iter().peekable();
            while let Some(a) = it.peek() {
                if let Some(v) = a.strip_prefix("--fail-nth=") {
                    fail_nth = Some(num_u32("--fail-nth", v)?);
                } else if *a == "--fail-nth" {
                    it.next();
                    let v = it
                        .peek()
                        .map_or_else(|| err("insmod: --fail-nth needs a value"), Ok)?;
                    fail_nth = Some(num_u32("--fail-nth", v)?);
                } else if a.starts_with("--") {
                    return err(format!("insmod: unknown option '{a}'"));
                } else {
                    break;
                }
                it.next();
            }
            if fail_nth == Some(0) {
                return err("insmod: --fail-nth counts from 1");
            }
            let Some(file) = it.next() else {
                return err("insmod: missing FILE.ko");
            };
            let params: Vec<&str> = it.map(String::as_str).collect();
            if let Some(bad) = params.iter().find(|p| p.is_empty() || p.contains(' ')) {
                return err(format!("insmod: bad parameter '{bad}'"));
            }
            Command::Insmod(InsmodOpts {
                fail_nth,
                file: file.clone(),
                params: params.join(" "),
            })
        }
        "rmmod" => match rest {
            [name] if !name.starts_with('-') && !name.is_empty() => Command::Rmmod {
                name: name.strip_suffix(".ko").unwrap_or(name).to_string(),
            },
            _ => return err("rmmod: expected exactly one module NAME"),
        },
        "bench" => Command::Bench(parse_bench(rest)?),
        other => return err(format!("unknown command '{other}'")),
    };
    Ok(Cli {
        as_uid,
        make_it_fail,
        cmd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Res<Cli> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&v)
    }

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
        assert!(p("bind --group 0x100000000").is_err());
        assert!(p("send --idx 1 --val 1 --flags 0x10000").is_err());
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
            })
        );
        assert!(p("listen").is_err());
        assert!(p("listen --group 1 --group 2").is_err());
        assert!(p("listen --group 1 --bogus").is_err());
        assert!(p("listen --group").is_err());
        // global option only before the command
        assert!(p("listen --group 1 --as-uid 5").is_err());
    }

    #[test]
    fn send_args() {
        let c = p("send --idx 1 --val 2 --seq 3 --ack 4 --flags 5 --data hi --nul --nl-ack --reply-timeout-ms 100 --group 7").unwrap();
        assert_eq!(
            c.cmd,
            Command::Send(SendOpts {
                idx: 1,
                val: 2,
                seq: 3,
                ack: 4,
                flags: 5,
                data: b"hi\0".to_vec(),
                nl_ack: true,
                reply_timeout_ms: Some(100),
                group: Some(7),
            })
        );
        let Command::Send(s) = p("send --idx 1 --val 2 --hex 0102").unwrap().cmd else {
            panic!()
        };
        assert_eq!(s.data, vec![1, 2]);
        assert_eq!((s.seq, s.ack, s.flags, s.nl_ack), (0, 0, 0, false));
        assert!(p("send --idx 1 --val 2 --hex 01 --data x").is_err());
        assert!(p("send --idx 1").is_err());
        assert!(p("send --idx 1 --val 2 --nul=1").is_err());
    }

    #[test]
    fn notify_args() {
        let c = p("notify --add 5 --idx 0x10:2,20:1 --val 1:1 --nl-ack --listen-ms 300").unwrap();
        assert_eq!(
            c.cmd,
            Command::Notify(NotifyOpts {
                add_group: Some(5),
                ctl_idx: u32::MAX,
                ctl_val: u32::MAX,
                idx_reqs: vec![
                    NotifyReq {
                        first: 16,
                        range: 2
                    },
                    NotifyReq {
                        first: 20,
                        range: 1
                    }
                ],
                val_reqs: vec![NotifyReq { first: 1, range: 1 }],
                nl_ack: true,
                listen_ms: Some(300),
            })
        );
        let Command::Notify(n) = p("notify --remove --ctl-idx 1 --ctl-val 2 --idx 3:4 --val 5:6")
            .unwrap()
            .cmd
        else {
            panic!()
        };
        assert_eq!((n.add_group, n.ctl_idx, n.ctl_val), (None, 1, 2));
        assert!(p("notify --idx 1:1 --val 1:1").is_err());
        assert!(p("notify --add 1 --remove --idx 1:1 --val 1:1").is_err());
        assert!(p("notify --remove --idx 1:1 --val 1:1 --listen-ms 5").is_err());
        assert!(p("notify --add 1 --idx 1 --val 1:1").is_err());
    }

    #[test]
    fn proc_args() {
        assert_eq!(
            p("proc").unwrap().cmd,
            Command::Proc(ProcOpts {
                filter: 0xe000_03c7,
                count: None,
                timeout_ms: None,
                ignore_after_ms: None,
                legacy: false,
                op: 1,
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
            })
        );
        let Command::Proc(o) = p("proc --legacy").unwrap().cmd else {
            panic!()
        };
        assert!(o.legacy);
        assert!(p("proc --legacy --filter 1").is_err());
        assert!(p("proc --filter").is_err());
        assert!(p("proc --filter 0x100000000").is_err());
        assert!(p("proc --group 1").is_err());
    }

    #[test]
    fn other_commands() {
        assert_eq!(p("bind --group 3").unwrap().cmd, Command::Bind { group: 3 });
        assert_eq!(
            p("raw --hex 1000 --nl-ack").unwrap().cmd,
            Command::Raw(RawOpts {
                bytes: vec![0x10, 0],
                nl_ack: true
            })
        );
        assert_eq!(
            p("flood --idx 1 --val 2 --count 10").unwrap().cmd,
            Command::Flood(FloodOpts {
                idx: 1,
                val: 2,
                count: 10,
                data: vec![],
                reply: false,
            })
        );
        assert_eq!(p("--help").unwrap().cmd, Command::Help);
        assert!(
            p("--make-it-fail --as-uid 3 bind --group 1")
                .unwrap()
                .make_it_fail
        );
        assert!(!p("bind --group 1").unwrap().make_it_fail);
        assert!(p("").is_err());
        assert!(p("--as-uid").is_err());
    }

    #[test]
    fn fuzz_args() {
        assert_eq!(
            p("fuzz --seed 0x10 --count 20000 --as-uid 1000 --batch-max 64")
                .unwrap()
                .cmd,
            Command::Fuzz(FuzzOpts {
                seed: 16,
                count: 20000,
                as_uid: Some(1000),
                batch_max: 64,
            })
        );
        let Command::Fuzz(f) = p("fuzz --seed 1 --count 2").unwrap().cmd else {
            panic!()
        };
        assert_eq!((f.as_uid, f.batch_max), (None, DEFAULT_BATCH_MAX));
        assert!(p("fuzz --count 2").is_err());
        assert!(p("fuzz --seed 1").is_err());
        assert!(p("fuzz --seed 1 --count 2 --batch-max 0").is_err());
        assert!(p("--as-uid 5 fuzz --seed 1 --count 2 --as-uid 5").is_err());
    }

    #[test]
    fn insmod_rmmod_args() {
        assert_eq!(
            p("insmod --fail-nth 7 /modules/cn_test.ko interval_ms=0 reply=1")
                .unwrap()
                .cmd,
            Command::Insmod(InsmodOpts {
                fail_nth: Some(7),
                file: "/modules/cn_test.ko".into(),
                params: "interval_ms=0 reply=1".into(),
            })
        );
        assert_eq!(
            p("insmod --fail-nth=2 x.ko").unwrap().cmd,
            Command::Insmod(InsmodOpts {
                fail_nth: Some(2),
                file: "x.ko".into(),
                params: String::new(),
            })
        );
        let Command::Insmod(i) = p("insmod x.ko").unwrap().cmd else {
            panic!()
        };
        assert_eq!(i.fail_nth, None);
        assert!(p("insmod").is_err());
        assert!(p("insmod --fail-nth 3").is_err());
        assert!(p("insmod --fail-nth 0 x.ko").is_err());
        assert!(p("insmod --bogus x.ko").is_err());
        assert_eq!(
            p("rmmod cn_test.ko").unwrap().cmd,
            Command::Rmmod {
                name: "cn_test".into()
            }
        );
        assert!(p("rmmod").is_err());
        assert!(p("rmmod a b").is_err());
    }

    #[test]
    fn bench_args() {
        let b = |s: &str| match p(s).unwrap().cmd {
            Command::Bench(o) => o,
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
        // missing or unknown measurement
        assert!(p("bench").is_err());
        assert!(p("bench sendd --size 1 --count 1").is_err());
        // required options
        assert!(p("bench send --count 1").is_err());
        assert!(p("bench send --size 1").is_err());
        assert!(p("bench rtt --size 1").is_err());
        assert!(p("bench bcast --size 1 --count 1").is_err());
        assert!(p("bench adddel").is_err());
        assert!(p("bench percb").is_err());
        // options a measurement does not take
        assert!(p("bench rtt --size 1 --count 1 --threads 2").is_err());
        assert!(p("bench send --size 1 --count 1 --listeners 2").is_err());
        assert!(p("bench adddel --count 1 --size 1").is_err());
        assert!(p("bench percb --count 1 --threads 1").is_err());
        // ranges
        assert!(p("bench send --size 65536 --count 1").is_err());
        assert!(p("bench send --size 65535 --count 1").is_ok());
        assert!(p("bench send --size 1 --count 0").is_err());
        assert!(p("bench send --size 1 --count 0x100000000").is_err());
        assert!(p("bench send --size 1 --count 1 --threads 0").is_err());
        assert!(p("bench send --size 1 --count 1 --threads 1025").is_err());
        assert!(p("bench bcast --size 1 --count 1 --listeners 0").is_err());
        assert!(p("bench adddel --count 1 --proto 32").is_err());
        assert!(p("bench adddel --count 1 --proto 31").is_ok());
        assert!(p("bench adddel --count 1 --count 2").is_err());
        assert!(p("bench adddel --count").is_err());
    }
}
