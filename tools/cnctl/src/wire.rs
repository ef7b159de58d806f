//! Encoding and decoding of netlink / connector messages (native endian).

use serde::{Serialize, Serializer};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of the `struct cn_msg` header (without data).
pub const CN_MSG_HDRLEN: usize = 20;
/// Size of `struct cn_ctl_msg` (without the requests).
pub const CN_CTL_MSG_HDRLEN: usize = 16;
/// Size of one `struct cn_notify_req`.
pub const CN_NOTIFY_REQ_LEN: usize = 8;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const NLM_F_ACK: u16 = 0x4;

/// `NLMSG_ALIGN()`: round up to a multiple of 4.
pub fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The header of a connector message (`struct cn_msg` without its data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnHeader {
    pub idx: u32,
    pub val: u32,
    pub seq: u32,
    pub ack: u32,
    /// The `len` field as found in the header.
    pub len: u16,
    pub flags: u16,
}

impl CnHeader {
    /// Parse the cn_msg header of a netlink payload, without copying: the
    /// header and the data bytes actually present (at most `len` of them).
    /// `None` if the payload is shorter than the cn_msg header.
    pub fn parse(payload: &[u8]) -> Option<(CnHeader, &[u8])> {
        if payload.len() < CN_MSG_HDRLEN {
            return None;
        }
        let len = get_u16(payload, 16);
        let avail = payload.len() - CN_MSG_HDRLEN;
        let take = usize::from(len).min(avail);
        let h = CnHeader {
            idx: get_u32(payload, 0),
            val: get_u32(payload, 4),
            seq: get_u32(payload, 8),
            ack: get_u32(payload, 12),
            len,
            flags: get_u16(payload, 18),
        };
        Some((h, &payload[CN_MSG_HDRLEN..CN_MSG_HDRLEN + take]))
    }
}

/// A connector message (`struct cn_msg` plus its data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnMsg {
    pub idx: u32,
    pub val: u32,
    pub seq: u32,
    pub ack: u32,
    /// The `len` field as found in (or to be written to) the header.
    pub len: u16,
    pub flags: u16,
    /// The data bytes actually present (at most `len` of them).
    pub data: Vec<u8>,
}

impl CnMsg {
    /// Parse a cn_msg from a netlink payload. Returns `None` if the
    /// payload is shorter than the cn_msg header. Data is cut to what is
    /// really present if the header claims more.
    pub fn parse(payload: &[u8]) -> Option<CnMsg> {
        let (h, data) = CnHeader::parse(payload)?;
        Some(CnMsg {
            idx: h.idx,
            val: h.val,
            seq: h.seq,
            ack: h.ack,
            len: h.len,
            flags: h.flags,
            data: data.to_vec(),
        })
    }

    /// The line printed for a received message.
    pub fn recv_line(&self) -> String {
        format!(
            "recv idx={} val={} seq={} ack={} len={} flags={} data=\"{}\"",
            self.idx,
            self.val,
            self.seq,
            self.ack,
            self.len,
            self.flags,
            escape_data(&self.data)
        )
    }
}

/// `data` without its trailing NULs.
pub fn trim_nuls(data: &[u8]) -> &[u8] {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    &data[..end]
}

/// Render data for the `data="..."` field: trailing NULs removed,
/// printable ASCII except `"` and `\` as is, everything else as `\xNN`.
pub fn escape_data(data: &[u8]) -> String {
    let data = trim_nuls(data);
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Every byte of `data`, two lowercase hex digits each.
pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// A text field for JSON: the bytes without trailing NULs as a string (invalid UTF-8 sequences
/// replaced by U+FFFD), and their hex if they are not valid UTF-8.
pub fn json_text(data: &[u8]) -> (String, Option<String>) {
    let data = trim_nuls(data);
    match std::str::from_utf8(data) {
        Ok(text) => (text.to_string(), None),
        Err(_) => (String::from_utf8_lossy(data).into_owned(), Some(hex(data))),
    }
}

/// Build one netlink datagram carrying one cn_msg, exactly
/// `16 + 20 + data.len()` bytes long (no tail padding).
/// Returns `None` if the data does not fit the 16-bit `len` field.
pub fn encode_cn_request(
    idx: u32,
    val: u32,
    seq: u32,
    ack: u32,
    flags: u16,
    data: &[u8],
    nl_flags: u16,
) -> Option<Vec<u8>> {
    let dlen = u16::try_from(data.len()).ok()?;
    let total = NLMSG_HDRLEN + CN_MSG_HDRLEN + data.len();
    let mut b = Vec::with_capacity(total);
    // struct nlmsghdr
    b.extend_from_slice(&(total as u32).to_ne_bytes());
    b.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    b.extend_from_slice(&nl_flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in the sender's port id
    b.extend_from_slice(&0u32.to_ne_bytes());
    // struct cn_msg
    b.extend_from_slice(&idx.to_ne_bytes());
    b.extend_from_slice(&val.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&ack.to_ne_bytes());
    b.extend_from_slice(&dlen.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(data);
    debug_assert_eq!(b.len(), total);
    Some(b)
}

/// Rewrite the sequence number of a datagram built by
/// [`encode_cn_request`] in place (both `nlmsg_seq` and the cn_msg `seq`),
/// so that a sender can reuse one buffer.
pub fn set_seq(dgram: &mut [u8], seq: u32) {
    let b = seq.to_ne_bytes();
    dgram[8..12].copy_from_slice(&b);
    dgram[NLMSG_HDRLEN + 8..NLMSG_HDRLEN + 12].copy_from_slice(&b);
}

/// One `struct cn_notify_req`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyReq {
    pub first: u32,
    pub range: u32,
}

/// Build the data of a connector control message:
/// `struct cn_ctl_msg` followed by the idx requests, then the val requests.
pub fn encode_ctl_msg(group: u32, idx_reqs: &[NotifyReq], val_reqs: &[NotifyReq]) -> Vec<u8> {
    let reqs_len = (idx_reqs.len() + val_reqs.len()) * CN_NOTIFY_REQ_LEN;
    let mut b = Vec::with_capacity(CN_CTL_MSG_HDRLEN + reqs_len);
    b.extend_from_slice(&(idx_reqs.len() as u32).to_ne_bytes());
    b.extend_from_slice(&(val_reqs.len() as u32).to_ne_bytes());
    b.extend_from_slice(&group.to_ne_bytes());
    b.extend_from_slice(&(reqs_len as u32).to_ne_bytes());
    for r in idx_reqs.iter().chain(val_reqs) {
        b.extend_from_slice(&r.first.to_ne_bytes());
        b.extend_from_slice(&r.range.to_ne_bytes());
    }
    b
}

/// The process events connector's id (`CN_IDX_PROC`, `CN_VAL_PROC`); the
/// index is also its multicast group.
pub const CN_IDX_PROC: u32 = 1;
pub const CN_VAL_PROC: u32 = 1;

/// `enum proc_cn_mcast_op`.
pub const PROC_CN_MCAST_LISTEN: u32 = 1;
pub const PROC_CN_MCAST_IGNORE: u32 = 2;

/// `enum proc_cn_event`.
pub const PROC_EVENT_NONE: u32 = 0x0000_0000;
pub const PROC_EVENT_FORK: u32 = 0x0000_0001;
pub const PROC_EVENT_EXEC: u32 = 0x0000_0002;
pub const PROC_EVENT_UID: u32 = 0x0000_0004;
pub const PROC_EVENT_GID: u32 = 0x0000_0040;
pub const PROC_EVENT_SID: u32 = 0x0000_0080;
pub const PROC_EVENT_PTRACE: u32 = 0x0000_0100;
pub const PROC_EVENT_COMM: u32 = 0x0000_0200;
pub const PROC_EVENT_NONZERO_EXIT: u32 = 0x2000_0000;
pub const PROC_EVENT_COREDUMP: u32 = 0x4000_0000;
pub const PROC_EVENT_EXIT: u32 = 0x8000_0000;
pub const PROC_EVENT_ALL: u32 = PROC_EVENT_FORK
    | PROC_EVENT_EXEC
    | PROC_EVENT_UID
    | PROC_EVENT_GID
    | PROC_EVENT_SID
    | PROC_EVENT_PTRACE
    | PROC_EVENT_COMM
    | PROC_EVENT_NONZERO_EXIT
    | PROC_EVENT_COREDUMP
    | PROC_EVENT_EXIT;

/// Size of `struct proc_event`: its header (what, cpu, timestamp_ns) is
/// 16 bytes, the union `event_data` 24.
pub const PROC_EVENT_LEN: usize = 40;
const PROC_EVENT_DATA: usize = 16;

/// The data of a listener's request: `struct proc_input {mcast_op,
/// event_type}`, or with `legacy` the bare 4-byte operation of older
/// kernels (which means every event).
pub fn encode_proc_input(op: u32, events: u32, legacy: bool) -> Vec<u8> {
    let mut b = op.to_ne_bytes().to_vec();
    if !legacy {
        b.extend_from_slice(&events.to_ne_bytes());
    }
    b
}

/// The names of `enum proc_cn_event`'s values in a `--filter`, as in the event lines.
/// `nonzero-exit` asks for the exits with a non-zero exit code only; `all` is `PROC_EVENT_ALL`.
pub const PROC_EVENT_NAMES: [(&str, u32); 11] = [
    ("fork", PROC_EVENT_FORK),
    ("exec", PROC_EVENT_EXEC),
    ("uid", PROC_EVENT_UID),
    ("gid", PROC_EVENT_GID),
    ("sid", PROC_EVENT_SID),
    ("ptrace", PROC_EVENT_PTRACE),
    ("comm", PROC_EVENT_COMM),
    ("coredump", PROC_EVENT_COREDUMP),
    ("exit", PROC_EVENT_EXIT),
    ("nonzero-exit", PROC_EVENT_NONZERO_EXIT),
    ("all", PROC_EVENT_ALL),
];

/// The union `event_data` of a `struct proc_event`, by `what`. Serialized (JSON output) as its
/// fields after an `"event"` key with the variant's name, as in the event lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ProcEventData {
    /// PROC_EVENT_NONE: the acknowledgement of a request (`err`: 0 or a
    /// positive errno).
    None {
        err: u32,
    },
    Fork {
        parent_pid: i32,
        parent_tgid: i32,
        child_pid: i32,
        child_tgid: i32,
    },
    Exec {
        pid: i32,
        tgid: i32,
    },
    Uid {
        pid: i32,
        tgid: i32,
        ruid: u32,
        euid: u32,
    },
    Gid {
        pid: i32,
        tgid: i32,
        rgid: u32,
        egid: u32,
    },
    Sid {
        pid: i32,
        tgid: i32,
    },
    Ptrace {
        pid: i32,
        tgid: i32,
        tracer_pid: i32,
        tracer_tgid: i32,
    },
    Comm {
        pid: i32,
        tgid: i32,
        /// In JSON `"comm"`, and `"comm_hex"` when not UTF-8 (see [`json_text`]).
        #[serde(flatten, serialize_with = "serialize_comm")]
        comm: Vec<u8>,
    },
    Coredump {
        pid: i32,
        tgid: i32,
        parent_pid: i32,
        parent_tgid: i32,
    },
    Exit {
        pid: i32,
        tgid: i32,
        exit_code: u32,
        /// Signed when printed: -1 for threads.
        #[serde(serialize_with = "serialize_signed")]
        exit_signal: u32,
        parent_pid: i32,
        parent_tgid: i32,
    },
    /// A `what` this tool does not know.
    Unknown {
        what: u32,
    },
}

/// Serializes a comm as the keys `comm` and, when it is not UTF-8, `comm_hex` (see
/// [`json_text`]).
fn serialize_comm<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let (text, hex) = json_text(bytes);
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("comm", &text)?;
    if let Some(hex) = hex {
        map.serialize_entry("comm_hex", &hex)?;
    }
    map.end()
}

/// Serializes a `u32` field that the kernel fills with a signed value.
fn serialize_signed<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i32(*v as i32)
}

impl ProcEventData {
    /// The process (or thread) the event is about: the child of a fork, none for an
    /// acknowledgement or an unknown event.
    pub fn subject_pid(&self) -> Option<i32> {
        match *self {
            ProcEventData::None { .. } | ProcEventData::Unknown { .. } => None,
            ProcEventData::Fork { child_pid, .. } => Some(child_pid),
            ProcEventData::Exec { pid, .. }
            | ProcEventData::Uid { pid, .. }
            | ProcEventData::Gid { pid, .. }
            | ProcEventData::Sid { pid, .. }
            | ProcEventData::Ptrace { pid, .. }
            | ProcEventData::Comm { pid, .. }
            | ProcEventData::Coredump { pid, .. }
            | ProcEventData::Exit { pid, .. } => Some(pid),
        }
    }
}

/// A `struct proc_event` (include/uapi/linux/cn_proc.h), native endian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcEvent {
    pub cpu: u32,
    pub timestamp_ns: u64,
    pub data: ProcEventData,
}

impl ProcEvent {
    /// Parse the data of a process events message; `None` if it is
    /// shorter than a `struct proc_event`.
    pub fn parse(b: &[u8]) -> Option<ProcEvent> {
        if b.len() < PROC_EVENT_LEN {
            return None;
        }
        let what = get_u32(b, 0);
        let w = |i: usize| get_u32(b, PROC_EVENT_DATA + 4 * i);
        let p = |i: usize| w(i) as i32;
        let data = match what {
            PROC_EVENT_NONE => ProcEventData::None { err: w(0) },
            PROC_EVENT_FORK => ProcEventData::Fork {
                parent_pid: p(0),
                parent_tgid: p(1),
                child_pid: p(2),
                child_tgid: p(3),
            },
            PROC_EVENT_EXEC => ProcEventData::Exec {
                pid: p(0),
                tgid: p(1),
            },
            PROC_EVENT_UID => ProcEventData::Uid {
                pid: p(0),
                tgid: p(1),
                ruid: w(2),
                euid: w(3),
            },
            PROC_EVENT_GID => ProcEventData::Gid {
                pid: p(0),
                tgid: p(1),
                rgid: w(2),
                egid: w(3),
            },
            PROC_EVENT_SID => ProcEventData::Sid {
                pid: p(0),
                tgid: p(1),
            },
            PROC_EVENT_PTRACE => ProcEventData::Ptrace {
                pid: p(0),
                tgid: p(1),
                tracer_pid: p(2),
                tracer_tgid: p(3),
            },
            PROC_EVENT_COMM => {
                let comm = &b[PROC_EVENT_DATA + 8..PROC_EVENT_DATA + 24];
                let end = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
                ProcEventData::Comm {
                    pid: p(0),
                    tgid: p(1),
                    comm: comm[..end].to_vec(),
                }
            }
            PROC_EVENT_COREDUMP => ProcEventData::Coredump {
                pid: p(0),
                tgid: p(1),
                parent_pid: p(2),
                parent_tgid: p(3),
            },
            PROC_EVENT_EXIT => ProcEventData::Exit {
                pid: p(0),
                tgid: p(1),
                exit_code: w(2),
                exit_signal: w(3),
                parent_pid: p(4),
                parent_tgid: p(5),
            },
            what => ProcEventData::Unknown { what },
        };
        Some(ProcEvent {
            cpu: get_u32(b, 4),
            timestamp_ns: u64::from_ne_bytes(b[8..16].try_into().ok()?),
            data,
        })
    }

    /// Whether this is the acknowledgement of a request, not a process
    /// event.
    pub fn is_ack(&self) -> bool {
        matches!(self.data, ProcEventData::None { .. })
    }

    /// The line printed for the event of message `msg`: `proc <time>
    /// <event> <fields> cpu=<cpu> seq=<seq>` (`<time>`: the kernel's timestamp, seconds of
    /// CLOCK_MONOTONIC). The exit signal prints signed: -1 for threads.
    pub fn line(&self, msg: &CnMsg) -> String {
        let fields = match &self.data {
            ProcEventData::None { err } => format!("none err={err} ack={}", msg.ack),
            ProcEventData::Fork {
                parent_pid,
                parent_tgid,
                child_pid,
                child_tgid,
            } => format!(
                "fork parent_pid={parent_pid} parent_tgid={parent_tgid} \
                 child_pid={child_pid} child_tgid={child_tgid}"
            ),
            ProcEventData::Exec { pid, tgid } => format!("exec pid={pid} tgid={tgid}"),
            ProcEventData::Uid {
                pid,
                tgid,
                ruid,
                euid,
            } => format!("uid pid={pid} tgid={tgid} ruid={ruid} euid={euid}"),
            ProcEventData::Gid {
                pid,
                tgid,
                rgid,
                egid,
            } => format!("gid pid={pid} tgid={tgid} rgid={rgid} egid={egid}"),
            ProcEventData::Sid { pid, tgid } => format!("sid pid={pid} tgid={tgid}"),
            ProcEventData::Ptrace {
                pid,
                tgid,
                tracer_pid,
                tracer_tgid,
            } => format!(
                "ptrace pid={pid} tgid={tgid} tracer_pid={tracer_pid} tracer_tgid={tracer_tgid}"
            ),
            ProcEventData::Comm { pid, tgid, comm } => {
                format!("comm pid={pid} tgid={tgid} comm=\"{}\"", escape_data(comm))
            }
            ProcEventData::Coredump {
                pid,
                tgid,
                parent_pid,
                parent_tgid,
            } => format!(
                "coredump pid={pid} tgid={tgid} parent_pid={parent_pid} parent_tgid={parent_tgid}"
            ),
            ProcEventData::Exit {
                pid,
                tgid,
                exit_code,
                exit_signal,
                parent_pid,
                parent_tgid,
            } => format!(
                "exit pid={pid} tgid={tgid} exit_code={exit_code} exit_signal={} \
                 parent_pid={parent_pid} parent_tgid={parent_tgid}",
                *exit_signal as i32
            ),
            ProcEventData::Unknown { what } => format!("unknown what={what:#x}"),
        };
        format!(
            "proc {}.{:09} {fields} cpu={} seq={}",
            self.timestamp_ns / 1_000_000_000,
            self.timestamp_ns % 1_000_000_000,
            self.cpu,
            msg.seq
        )
    }
}

/// One netlink message found in a received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NlItem {
    /// NLMSG_DONE carrying a connector message.
    Cn(CnMsg),
    /// NLMSG_ERROR: `error` is 0 for an ack, a negative errno otherwise.
    /// `orig_seq` is the sequence number of the message it answers,
    /// when present.
    Ack { error: i32, orig_seq: Option<u32> },
    /// Anything else (or a message too short for its type).
    Other { nl_type: u16, len: u32 },
    /// The rest of the datagram could not be parsed as netlink messages.
    Malformed { offset: usize, remaining: usize },
}

/// One netlink message of a received datagram, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawNl<'a> {
    /// A message whose `nlmsg_len` fits the datagram: its type, length
    /// and payload (the bytes after the header, up to `nlmsg_len`).
    Msg {
        nl_type: u16,
        len: u32,
        payload: &'a [u8],
    },
    /// The rest of the datagram could not be parsed (the walk ends).
    Malformed { offset: usize, remaining: usize },
}

/// Iterator over the netlink messages of one datagram, without copying
/// or allocating (see [`walk`]).
#[derive(Debug, Clone)]
pub struct NlWalk<'a> {
    buf: &'a [u8],
    off: usize,
}

/// Walk the netlink messages of one datagram (aligned as the kernel
/// aligns them).
pub fn walk(buf: &[u8]) -> NlWalk<'_> {
    NlWalk { buf, off: 0 }
}

impl<'a> Iterator for NlWalk<'a> {
    type Item = RawNl<'a>;

    fn next(&mut self) -> Option<RawNl<'a>> {
        let off = self.off;
        if off >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[off..];
        let malformed = RawNl::Malformed {
            offset: off,
            remaining: rest.len(),
        };
        if rest.len() < NLMSG_HDRLEN {
            self.off = self.buf.len();
            return Some(malformed);
        }
        let len = get_u32(rest, 0);
        let ulen = len as usize;
        if ulen < NLMSG_HDRLEN || ulen > rest.len() {
            self.off = self.buf.len();
            return Some(malformed);
        }
        self.off = off.saturating_add(nlmsg_align(ulen));
        Some(RawNl::Msg {
            nl_type: get_u16(rest, 4),
            len,
            payload: &rest[NLMSG_HDRLEN..ulen],
        })
    }
}

/// The error code of an NLMSG_ERROR payload (0: an ack), if it has one.
pub fn nlmsg_error_code(payload: &[u8]) -> Option<i32> {
    (payload.len() >= 4).then(|| get_u32(payload, 0) as i32)
}

/// Walk all netlink messages of one received datagram.
pub fn parse_datagram(buf: &[u8]) -> Vec<NlItem> {
    walk(buf)
        .map(|raw| match raw {
            RawNl::Malformed { offset, remaining } => NlItem::Malformed { offset, remaining },
            RawNl::Msg {
                nl_type,
                len,
                payload,
            } => match nl_type {
                NLMSG_DONE => match CnMsg::parse(payload) {
                    Some(m) => NlItem::Cn(m),
                    None => NlItem::Other { nl_type, len },
                },
                NLMSG_ERROR if payload.len() >= 4 => NlItem::Ack {
                    error: get_u32(payload, 0) as i32,
                    orig_seq: (payload.len() >= 4 + NLMSG_HDRLEN).then(|| get_u32(payload, 4 + 8)),
                },
                _ => NlItem::Other { nl_type, len },
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NLMSG_NOOP: u16 = 1;

    fn nlmsg(nl_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&nl_type.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&7u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(payload);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        b
    }

    #[test]
    fn encode_request_layout() {
        let b = encode_cn_request(0x10, 0x456, 9, 3, 0x0102, b"hi\0", NLM_F_ACK).unwrap();
        assert_eq!(b.len(), 16 + 20 + 3);
        assert_eq!(get_u32(&b, 0), 39); // nlmsg_len, not rounded up
        assert_eq!(get_u16(&b, 4), NLMSG_DONE);
        assert_eq!(get_u16(&b, 6), NLM_F_ACK);
        assert_eq!(get_u32(&b, 8), 9); // nlmsg_seq == cn seq
        assert_eq!(get_u32(&b, 12), 0); // nlmsg_pid
        assert_eq!(get_u32(&b, 16), 0x10);
        assert_eq!(get_u32(&b, 20), 0x456);
        assert_eq!(get_u32(&b, 24), 9);
        assert_eq!(get_u32(&b, 28), 3);
        assert_eq!(get_u16(&b, 32), 3);
        assert_eq!(get_u16(&b, 34), 0x0102);
        assert_eq!(&b[36..], b"hi\0");
    }

    #[test]
    fn encode_request_too_long() {
        assert!(encode_cn_request(1, 1, 0, 0, 0, &vec![0u8; 65536], 0).is_none());
        assert!(encode_cn_request(1, 1, 0, 0, 0, &vec![0u8; 65535], 0).is_some());
    }

    #[test]
    fn roundtrip_through_parser() {
        let req = encode_cn_request(5, 6, 7, 8, 9, b"abc", 0).unwrap();
        let items = parse_datagram(&req);
        assert_eq!(
            items,
            vec![NlItem::Cn(CnMsg {
                idx: 5,
                val: 6,
                seq: 7,
                ack: 8,
                len: 3,
                flags: 9,
                data: b"abc".to_vec()
            })]
        );
    }

    #[test]
    fn walks_several_messages_with_alignment() {
        // first cn_msg has 5 data bytes -> nlmsg_len 41, aligned to 44
        let mut cn1 = Vec::new();
        for v in [1u32, 2, 3, 4] {
            cn1.extend_from_slice(&v.to_ne_bytes());
        }
        cn1.extend_from_slice(&5u16.to_ne_bytes());
        cn1.extend_from_slice(&0u16.to_ne_bytes());
        cn1.extend_from_slice(b"hello");
        let mut dgram = nlmsg(NLMSG_DONE, &cn1);
        assert_eq!(dgram.len(), 44);
        // an ack: error -19 followed by the original header
        let mut ack = (-19i32).to_ne_bytes().to_vec();
        ack.extend_from_slice(&nlmsg(NLMSG_DONE, &[])[..16]);
        dgram.extend(nlmsg(NLMSG_ERROR, &ack));
        dgram.extend(nlmsg(NLMSG_NOOP, &[]));
        let items = parse_datagram(&dgram);
        assert_eq!(items.len(), 3);
        match &items[0] {
            NlItem::Cn(m) => {
                assert_eq!((m.idx, m.val, m.seq, m.ack, m.len), (1, 2, 3, 4, 5));
                assert_eq!(m.data, b"hello");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            items[1],
            NlItem::Ack {
                error: -19,
                orig_seq: Some(7)
            }
        );
        assert_eq!(
            items[2],
            NlItem::Other {
                nl_type: NLMSG_NOOP,
                len: 16
            }
        );
    }

    #[test]
    fn walk_borrows_what_parse_datagram_copies() {
        let a = encode_cn_request(1, 2, 3, 4, 5, b"hello", 0).unwrap();
        let mut d = a.clone();
        d.resize(nlmsg_align(d.len()), 0);
        d.extend(nlmsg(NLMSG_NOOP, &[]));
        d.extend_from_slice(&[0u8; 7]); // a tail too short for a header
        let raw: Vec<RawNl> = walk(&d).collect();
        assert_eq!(raw.len(), 3);
        let RawNl::Msg {
            nl_type,
            len,
            payload,
        } = raw[0]
        else {
            panic!()
        };
        assert_eq!((nl_type, len), (NLMSG_DONE, 41));
        let (h, data) = CnHeader::parse(payload).unwrap();
        assert_eq!(
            (h.idx, h.val, h.seq, h.ack, h.len, h.flags),
            (1, 2, 3, 4, 5, 5)
        );
        assert_eq!(data, b"hello");
        assert!(matches!(
            raw[1],
            RawNl::Msg {
                nl_type: NLMSG_NOOP,
                len: 16,
                ..
            }
        ));
        assert_eq!(
            raw[2],
            RawNl::Malformed {
                offset: 60,
                remaining: 7
            }
        );
        assert_eq!(walk(&[]).count(), 0);
        assert_eq!(nlmsg_error_code(&(-5i32).to_ne_bytes()), Some(-5));
        assert_eq!(nlmsg_error_code(&[0; 3]), None);
    }

    #[test]
    fn set_seq_patches_both_fields() {
        let mut b = encode_cn_request(1, 2, 0, 4, 0, b"x", 0).unwrap();
        set_seq(&mut b, 0xdead_beef);
        assert_eq!(
            b,
            encode_cn_request(1, 2, 0xdead_beef, 4, 0, b"x", 0).unwrap()
        );
    }

    #[test]
    fn malformed_lengths_stop_the_walk() {
        let mut d = nlmsg(NLMSG_DONE, &[0u8; 20]);
        d[0..4].copy_from_slice(&200u32.to_ne_bytes()); // longer than datagram
        assert!(matches!(
            parse_datagram(&d)[..],
            [NlItem::Malformed { offset: 0, .. }]
        ));
        let mut d = nlmsg(NLMSG_DONE, &[0u8; 20]);
        d[0..4].copy_from_slice(&3u32.to_ne_bytes()); // shorter than header
        assert!(matches!(parse_datagram(&d)[..], [NlItem::Malformed { .. }]));
    }

    #[test]
    fn cn_len_larger_than_payload_is_truncated() {
        let mut p = vec![0u8; 20];
        p[16..18].copy_from_slice(&100u16.to_ne_bytes());
        p.extend_from_slice(b"xy");
        let m = CnMsg::parse(&p).unwrap();
        assert_eq!(m.len, 100);
        assert_eq!(m.data, b"xy");
        assert!(CnMsg::parse(&[0u8; 19]).is_none());
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_data(b"hello\0\0\0"), "hello");
        assert_eq!(escape_data(b"a\0b\0"), "a\\x00b");
        assert_eq!(
            escape_data(b"q\"\\\n\x7f\xff~ "),
            "q\\x22\\x5c\\x0a\\x7f\\xff~ "
        );
        assert_eq!(escape_data(b"\0\0"), "");
    }

    #[test]
    fn json_text_fields() {
        assert_eq!(json_text(b"caf\xc3\xa9\0\0"), ("café".to_string(), None));
        assert_eq!(json_text(b"a\"b\\\n\0x"), ("a\"b\\\n\0x".to_string(), None));
        assert_eq!(
            json_text(b"x\xff\0"),
            ("x\u{fffd}".to_string(), Some("78ff".to_string()))
        );
        assert_eq!(json_text(b""), (String::new(), None));
        assert_eq!(hex(b"\x00\xab\n"), "00ab0a");
    }

    #[test]
    fn recv_line_format() {
        let m = CnMsg {
            idx: 0xffff_ffff,
            val: 1,
            seq: 2,
            ack: 3,
            len: 6,
            flags: 65535,
            data: b"ok\x01\0\0\0".to_vec(),
        };
        assert_eq!(
            m.recv_line(),
            "recv idx=4294967295 val=1 seq=2 ack=3 len=6 flags=65535 data=\"ok\\x01\""
        );
    }

    /// A `struct proc_event` as the kernel lays it out.
    fn proc_event(what: u32, cpu: u32, ts: u64, data: &[u32]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&what.to_ne_bytes());
        b.extend_from_slice(&cpu.to_ne_bytes());
        b.extend_from_slice(&ts.to_ne_bytes());
        for w in data {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b.resize(PROC_EVENT_LEN, 0);
        b
    }

    fn proc_msg(seq: u32, ack: u32) -> CnMsg {
        CnMsg {
            idx: CN_IDX_PROC,
            val: CN_VAL_PROC,
            seq,
            ack,
            len: PROC_EVENT_LEN as u16,
            flags: 0,
            data: vec![],
        }
    }

    #[test]
    fn proc_input_layout() {
        assert_eq!(
            encode_proc_input(PROC_CN_MCAST_LISTEN, PROC_EVENT_ALL, false),
            [1u32.to_ne_bytes(), 0xe000_03c7u32.to_ne_bytes()].concat()
        );
        assert_eq!(
            encode_proc_input(PROC_CN_MCAST_IGNORE, PROC_EVENT_FORK, true),
            2u32.to_ne_bytes()
        );
    }

    #[test]
    fn proc_events_parse_and_print() {
        let m = proc_msg(7, 0);
        let fork = proc_event(PROC_EVENT_FORK, 1, 12_000_000_345, &[1, 1, 42, 42]);
        assert_eq!(
            ProcEvent::parse(&fork).unwrap().line(&m),
            "proc 12.000000345 fork parent_pid=1 parent_tgid=1 child_pid=42 child_tgid=42 \
             cpu=1 seq=7"
        );
        let exit = proc_event(PROC_EVENT_EXIT, 0, 5, &[42, 42, 768, 17, 1, 1]);
        assert_eq!(
            ProcEvent::parse(&exit).unwrap().line(&m),
            "proc 0.000000005 exit pid=42 tgid=42 exit_code=768 exit_signal=17 parent_pid=1 \
             parent_tgid=1 cpu=0 seq=7"
        );
        let thread_exit = proc_event(PROC_EVENT_EXIT, 0, 0, &[43, 42, 0, u32::MAX, 0, 0]);
        assert!(ProcEvent::parse(&thread_exit)
            .unwrap()
            .line(&m)
            .contains(" exit_signal=-1 "));
        let exec = proc_event(PROC_EVENT_EXEC, 0, 0, &[42, 42]);
        assert!(ProcEvent::parse(&exec)
            .unwrap()
            .line(&m)
            .contains(" exec pid=42 tgid=42 cpu=0 "));
        let mut comm = proc_event(PROC_EVENT_COMM, 0, 0, &[42, 42]);
        comm[24..30].copy_from_slice(b"new\\\"x");
        assert!(ProcEvent::parse(&comm)
            .unwrap()
            .line(&m)
            .contains(" comm pid=42 tgid=42 comm=\"new\\x5c\\x22x\" cpu="));
        let ack = ProcEvent::parse(&proc_event(PROC_EVENT_NONE, 0, 0, &[22])).unwrap();
        assert!(ack.is_ack());
        assert!(ack
            .line(&proc_msg(3, 1))
            .contains(" none err=22 ack=1 cpu=0 seq=3"));
        let uid = proc_event(PROC_EVENT_UID, 0, 0, &[5, 5, 0, 1000]);
        assert!(ProcEvent::parse(&uid)
            .unwrap()
            .line(&m)
            .contains(" uid pid=5 tgid=5 ruid=0 euid=1000 "));
        let odd = ProcEvent::parse(&proc_event(0x400, 0, 0, &[])).unwrap();
        assert_eq!(odd.data, ProcEventData::Unknown { what: 0x400 });
        assert!(!odd.is_ack());
        assert!(ProcEvent::parse(&fork[..PROC_EVENT_LEN - 1]).is_none());
    }

    #[test]
    fn ctl_msg_layout() {
        let idx = [NotifyReq {
            first: 10,
            range: 2,
        }];
        let val = [
            NotifyReq { first: 1, range: 3 },
            NotifyReq {
                first: 0x456,
                range: 1,
            },
        ];
        let b = encode_ctl_msg(7, &idx, &val);
        assert_eq!(b.len(), 16 + 3 * 8);
        let words: Vec<u32> = b.chunks(4).map(|c| get_u32(c, 0)).collect();
        assert_eq!(words, vec![1, 2, 7, 24, 10, 2, 1, 3, 0x456, 1]);
        assert_eq!(encode_ctl_msg(0, &[], &[]), vec![0u8; 16]);
    }
}
