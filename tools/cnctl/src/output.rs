//! What the receiving commands print for what they receive: `key=value` text lines or JSON
//! lines (`--json`), each optionally led by the time it was printed (`--timestamps`).

use std::fmt;
use std::io;

use serde::Serialize;

use crate::cli::OutputOpts;
use crate::signals;
use crate::wire::{escape_data, hex, json_text, CnMsg, ProcEvent, ProcEventData};

/// The clock of `--timestamps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Clock {
    // (No doc comments: clap would show them, in the long form of the help.)
    // UTC date and time of day, to the microsecond (CLOCK_REALTIME).
    Wall,
    // Seconds of CLOCK_MONOTONIC, to the nanosecond: the clock of the process events' own
    // timestamps (it starts near boot and stops while the system is suspended, unlike
    // CLOCK_BOOTTIME, the clock of /proc/uptime).
    Mono,
}

/// A time as printed: in a text line `<key>=<text>`, in JSON `"time":"<text>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub key: &'static str,
    pub text: String,
}

impl Clock {
    /// The time now on this clock.
    pub fn now(self) -> Stamp {
        let id = match self {
            Clock::Wall => libc::CLOCK_REALTIME,
            Clock::Mono => libc::CLOCK_MONOTONIC,
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec; both clocks always exist.
        unsafe { libc::clock_gettime(id, &mut ts) };
        self.stamp(ts.tv_sec, ts.tv_nsec as u32)
    }

    /// The time `secs` and `nanos` of this clock, as printed.
    pub fn stamp(self, secs: i64, nanos: u32) -> Stamp {
        match self {
            Clock::Wall => Stamp {
                key: "time",
                text: utc_text(secs, nanos / 1000),
            },
            Clock::Mono => Stamp {
                key: "mono",
                text: format!("{secs}.{nanos:09}"),
            },
        }
    }
}

/// `secs` since the epoch as RFC 3339 UTC with microseconds: `2026-11-27T01:02:03.123456Z`.
pub fn utc_text(secs: i64, micros: u32) -> String {
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One thing received (or done), to print.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// A connector message.
    Recv(&'a CnMsg),
    /// A netlink acknowledgement: 0, or a negative errno.
    Nlack(i32),
    /// A process event carried by `msg`; `name`: the process's name (`--resolve`), if known.
    Proc {
        event: &'a ProcEvent,
        msg: &'a CnMsg,
        name: Option<&'a [u8]>,
    },
    /// `bind` joined a group.
    Bind(u32),
}

/// A JSON line: the time first, then the record.
#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<&'a str>,
    #[serde(flatten)]
    record: JsonRecord<'a>,
}

/// A record in JSON, with a `"type"` key naming it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum JsonRecord<'a> {
    Recv(JsonMsg),
    Nlack { error: i32 },
    Proc(JsonEvent<'a>),
    Bind { group: u32 },
}

/// A connector message in JSON.
#[derive(Serialize)]
struct JsonMsg {
    idx: u32,
    val: u32,
    seq: u32,
    ack: u32,
    len: u16,
    flags: u16,
    /// The data without trailing NULs, as UTF-8 (invalid sequences replaced by U+FFFD).
    data: String,
    /// Every data byte received, two hex digits each.
    hex: String,
}

/// A process event in JSON: its fields after `"event"`, then those of its message.
#[derive(Serialize)]
struct JsonEvent<'a> {
    /// The kernel's CLOCK_MONOTONIC time of the event.
    timestamp_ns: u64,
    #[serde(flatten)]
    event: &'a ProcEventData,
    cpu: u32,
    seq: u32,
    ack: u32,
    /// The name as UTF-8 (invalid sequences replaced by U+FFFD) ...
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// ... and its bytes in hex when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    name_hex: Option<String>,
}

impl Record<'_> {
    /// The default form: `key=value` fields, text fields quoted and escaped.
    pub fn text(&self) -> String {
        match *self {
            Record::Recv(m) => m.recv_line(),
            Record::Nlack(error) => format!("nlack error={error}"),
            Record::Proc { event, msg, name } => match name {
                Some(name) => format!("{} name=\"{}\"", event.line(msg), escape_data(name)),
                None => event.line(msg),
            },
            Record::Bind(group) => format!("bind group={group} ok"),
        }
    }

    fn json(&self) -> JsonRecord<'_> {
        match *self {
            Record::Recv(m) => JsonRecord::Recv(JsonMsg {
                idx: m.idx,
                val: m.val,
                seq: m.seq,
                ack: m.ack,
                len: m.len,
                flags: m.flags,
                data: json_text(&m.data).0,
                hex: hex(&m.data),
            }),
            Record::Nlack(error) => JsonRecord::Nlack { error },
            Record::Proc { event, msg, name } => {
                let (name, name_hex) = name.map(json_text).unzip();
                JsonRecord::Proc(JsonEvent {
                    timestamp_ns: event.timestamp_ns,
                    event: &event.data,
                    cpu: event.cpu,
                    seq: msg.seq,
                    ack: msg.ack,
                    name,
                    name_hex: name_hex.flatten(),
                })
            }
            Record::Bind(group) => JsonRecord::Bind { group },
        }
    }
}

/// Prints records in the form the command line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printer {
    pub json: bool,
    pub clock: Option<Clock>,
}

impl Printer {
    pub fn new(o: &OutputOpts) -> Printer {
        Printer {
            json: o.json,
            clock: o.timestamps,
        }
    }

    /// The line of `record`, stamped with `stamp`.
    pub fn line(&self, record: &Record, stamp: Option<&Stamp>) -> io::Result<String> {
        if self.json {
            let line = JsonLine {
                time: stamp.map(|s| s.text.as_str()),
                record: record.json(),
            };
            return serde_json::to_string(&line).map_err(io::Error::other);
        }
        Ok(match stamp {
            Some(s) => format!("{}={} {}", s.key, s.text, record.text()),
            None => record.text(),
        })
    }

    /// Prints `record` on stdout, stamped with the time now (when it is printed, which may
    /// be later than it was received). A stop signal during a write that waits for room ends
    /// it with [`signals::stopped_error`].
    pub fn print(&self, record: &Record) -> io::Result<()> {
        let stamp = self.clock.map(Clock::now);
        write_line(&self.line(record, stamp.as_ref())?)
    }
}

/// Writes one line to stdout at once (stdout is not buffered here), see [`signals::write_all`].
pub fn write_line(line: &str) -> io::Result<()> {
    signals::write_all(libc::STDOUT_FILENO, format!("{line}\n").as_bytes())
}

/// Writes one line to stderr, see [`signals::write_all`]; failures (a closed stderr: `cnctl
/// proc 2>&1 | head -n 1`) are ignored. Used through the `note!` macro.
pub fn note(args: fmt::Arguments) {
    let _ = signals::write_all(libc::STDERR_FILENO, format!("{args}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{PROC_EVENT_LEN, PROC_EVENT_NONE};

    fn msg(data: &[u8]) -> CnMsg {
        CnMsg {
            idx: 14,
            val: 0x456,
            seq: 3,
            ack: 4,
            len: data.len() as u16,
            flags: 0,
            data: data.to_vec(),
        }
    }

    fn event(data: ProcEventData) -> ProcEvent {
        ProcEvent {
            cpu: 1,
            timestamp_ns: 12_000_000_345,
            data,
        }
    }

    const TEXT: Printer = Printer {
        json: false,
        clock: None,
    };
    const JSON: Printer = Printer {
        json: true,
        clock: None,
    };

    #[test]
    fn wall_and_mono_stamps() {
        assert_eq!(utc_text(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(utc_text(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(
            Clock::Wall.stamp(1_795_741_323, 123_456_789).text,
            "2026-11-27T01:02:03.123456Z"
        );
        assert_eq!(utc_text(-1, 0), "1969-12-31T23:59:59.000000Z");
        assert_eq!(utc_text(4_102_444_800, 0), "2100-01-01T00:00:00.000000Z");
        let mono = Clock::Mono.stamp(12, 345_678_901);
        assert_eq!((mono.key, mono.text.as_str()), ("mono", "12.345678901"));
        assert_eq!(Clock::Mono.stamp(0, 5).text, "0.000000005");
        let now = Clock::Wall.now().text;
        assert!(now.len() == 27 && now.ends_with('Z'), "{now}");
    }

    #[test]
    fn text_lines() {
        let m = msg(b"a \"b\"\0");
        assert_eq!(
            TEXT.line(&Record::Recv(&m), None).unwrap(),
            "recv idx=14 val=1110 seq=3 ack=4 len=6 flags=0 data=\"a \\x22b\\x22\""
        );
        let stamp = Clock::Mono.stamp(5, 1);
        assert_eq!(
            TEXT.line(&Record::Nlack(-19), Some(&stamp)).unwrap(),
            "mono=5.000000001 nlack error=-19"
        );
        let comm = event(ProcEventData::Comm {
            pid: 42,
            tgid: 42,
            comm: b"a b=c".to_vec(),
        });
        let record = Record::Proc {
            event: &comm,
            msg: &m,
            name: Some(b"a b=c"),
        };
        assert_eq!(
            TEXT.line(&record, None).unwrap(),
            "proc 12.000000345 comm pid=42 tgid=42 comm=\"a b=c\" cpu=1 seq=3 name=\"a b=c\""
        );
        assert_eq!(
            TEXT.line(&Record::Bind(14), None).unwrap(),
            "bind group=14 ok"
        );
    }

    #[test]
    fn json_lines() {
        let m = msg(b"hi\x01\0");
        let stamp = Clock::Wall.stamp(0, 0);
        assert_eq!(
            JSON.line(&Record::Recv(&m), Some(&stamp)).unwrap(),
            r#"{"time":"1970-01-01T00:00:00.000000Z","type":"recv","idx":14,"val":1110,"seq":3,"ack":4,"len":4,"flags":0,"data":"hi\u0001","hex":"68690100"}"#
        );
        assert_eq!(
            JSON.line(&Record::Nlack(-1), None).unwrap(),
            r#"{"type":"nlack","error":-1}"#
        );
        assert_eq!(
            JSON.line(&Record::Bind(1), None).unwrap(),
            r#"{"type":"bind","group":1}"#
        );
        let exit = event(ProcEventData::Exit {
            pid: 43,
            tgid: 42,
            exit_code: 768,
            exit_signal: u32::MAX,
            parent_pid: 1,
            parent_tgid: 1,
        });
        let record = Record::Proc {
            event: &exit,
            msg: &m,
            name: None,
        };
        assert_eq!(
            JSON.line(&record, None).unwrap(),
            r#"{"type":"proc","timestamp_ns":12000000345,"event":"exit","pid":43,"tgid":42,"exit_code":768,"exit_signal":-1,"parent_pid":1,"parent_tgid":1,"cpu":1,"seq":3,"ack":4}"#
        );
        let comm = event(ProcEventData::Comm {
            pid: 7,
            tgid: 7,
            comm: b"x\"y".to_vec(),
        });
        let record = Record::Proc {
            event: &comm,
            msg: &m,
            name: Some(b"x\"y"),
        };
        assert_eq!(
            JSON.line(&record, None).unwrap(),
            r#"{"type":"proc","timestamp_ns":12000000345,"event":"comm","pid":7,"tgid":7,"comm":"x\"y","cpu":1,"seq":3,"ack":4,"name":"x\"y"}"#
        );
    }

    /// JSON strings are the text itself (valid UTF-8 as is, JSON escapes only), not the
    /// `\xNN` form of the text lines; bytes that are not UTF-8 come with their hex as well.
    #[test]
    fn json_text_is_utf8_with_hex_when_not() {
        let m = msg("café \"q\" \\ é\0\0".as_bytes());
        let line = JSON.line(&Record::Recv(&m), None).unwrap();
        assert!(
            line.contains(r#","data":"café \"q\" \\ é","hex":"636166c3a92022712220"#),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["data"], "café \"q\" \\ é");
        // Not UTF-8: U+FFFD for the invalid bytes; `hex` has them (always there for data).
        let bad = msg(b"a\xff\xc3(\0");
        let v: serde_json::Value =
            serde_json::from_str(&JSON.line(&Record::Recv(&bad), None).unwrap()).unwrap();
        assert_eq!(v["data"], "a\u{fffd}\u{fffd}(");
        assert_eq!(v["hex"], "61ffc32800");
        // comm and name: a string, and comm_hex / name_hex only when not UTF-8.
        let comm = event(ProcEventData::Comm {
            pid: 7,
            tgid: 7,
            comm: "café".as_bytes().to_vec(),
        });
        let record = Record::Proc {
            event: &comm,
            msg: &m,
            name: Some("café".as_bytes()),
        };
        let line = JSON.line(&record, None).unwrap();
        assert!(
            line.ends_with(r#""event":"comm","pid":7,"tgid":7,"comm":"café","cpu":1,"seq":3,"ack":4,"name":"café"}"#),
            "{line}"
        );
        let comm = event(ProcEventData::Comm {
            pid: 7,
            tgid: 7,
            comm: b"x\xe9y".to_vec(),
        });
        let record = Record::Proc {
            event: &comm,
            msg: &m,
            name: Some(b"n\xff"),
        };
        let line = JSON.line(&record, None).unwrap();
        assert!(
            line.ends_with(
                r#""event":"comm","pid":7,"tgid":7,"comm":"x\u{fffd}y","comm_hex":"78e979","cpu":1,"seq":3,"ack":4,"name":"n\u{fffd}","name_hex":"6eff"}"#
                    .replace(r"\u{fffd}", "\u{fffd}")
                    .as_str()
            ),
            "{line}"
        );
        // The text line keeps its escapes.
        assert!(TEXT
            .line(&record, None)
            .unwrap()
            .ends_with(r#" comm="x\xe9y" cpu=1 seq=3 name="n\xff""#));
    }

    #[test]
    fn every_event_has_its_name_in_json() {
        let mut raw = vec![0u8; PROC_EVENT_LEN];
        for (what, name) in [
            (PROC_EVENT_NONE, "none"),
            (0x1, "fork"),
            (0x2, "exec"),
            (0x4, "uid"),
            (0x40, "gid"),
            (0x80, "sid"),
            (0x100, "ptrace"),
            (0x200, "comm"),
            (0x4000_0000, "coredump"),
            (0x8000_0000, "exit"),
            (0x400, "unknown"),
        ] {
            raw[..4].copy_from_slice(&what.to_ne_bytes());
            let e = ProcEvent::parse(&raw).unwrap();
            let record = Record::Proc {
                event: &e,
                msg: &msg(&[]),
                name: None,
            };
            let line = JSON.line(&record, None).unwrap();
            assert!(line.contains(&format!(r#","event":"{name}","#)), "{line}");
            let text = TEXT.line(&record, None).unwrap();
            assert!(text.contains(&format!(" {name} ")), "{text}");
        }
    }
}
