// SPDX-License-Identifier: GPL-2.0

//! The receive path's checks.
//!
//! Walks the netlink messages of a datagram and decides, for each, whether it carries a complete
//! `cn_msg`; on plain byte slices, so that it can be tested without a socket.

use crate::cn_netlink::{nlmsg_align, NLMSG_HDRLEN};
use crate::connector_api::{CbId, CnMsg, CN_MSG_HDRLEN, CONNECTOR_MAX_MSG_SIZE};
use kernel::{prelude::*, transmute::FromBytes};

/// The most messages of one datagram that the core hands to callbacks (C: the first only); the
/// others are dropped, each acked with `EMSGSIZE` if it asks (`NLM_F_ACK`). Enough for a sender to
/// batch, while a datagram of thousands of messages costs no more than this many callback runs.
pub const MAX_MSGS_PER_DATAGRAM: usize = 64;

/// `struct nlmsghdr`, as it lies on the wire. The receive path reads its length and flags.
#[repr(C)]
#[derive(Clone, Copy)]
struct NlMsgHdr {
    len: u32,
    _type: u16,
    flags: u16,
    _seq: u32,
    _pid: u32,
}

const _: () = assert!(core::mem::size_of::<NlMsgHdr>() == NLMSG_HDRLEN);

// SAFETY: Integers only, without padding: every bit pattern is valid.
unsafe impl FromBytes for NlMsgHdr {}

/// One netlink message of a datagram sent to the connector, framed and checked.
///
/// Framing follows `netlink_rcv_skb()`: the walk stops at the first header that is truncated or
/// whose `nlmsg_len` is shorter than a header or longer than what is left. Each message is then
/// checked as `cn_rx_skb()` and `cn_call_callback()` check the first: its payload is at most
/// [`CONNECTOR_MAX_MSG_SIZE`] bytes and holds a `cn_msg` and the `len` bytes of data it announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the `nlmsghdr` in the datagram.
    pub offset: usize,
    /// `nlmsg_len`: the message's length from its header on, within the datagram.
    pub len: usize,
    /// Offset of the next message.
    pub next: usize,
    /// `nlmsg_flags` of the message.
    pub nlmsg_flags: u16,
    /// The id of the message's `cn_msg` if the message passed every check.
    pub id: Option<CbId>,
}

impl Frame {
    /// Frames the message at `offset` of the datagram `data`; `None` ends the walk.
    #[inline]
    pub fn parse(data: &[u8], offset: usize) -> Option<Self> {
        let rest = data.get(offset..)?;
        let header = NlMsgHdr::from_bytes_copy(rest.get(..NLMSG_HDRLEN)?)?;
        let nlmsg_len = header.len as usize;
        if nlmsg_len < NLMSG_HDRLEN || nlmsg_len > rest.len() {
            return None;
        }
        let payload = &rest[NLMSG_HDRLEN..nlmsg_len];
        let id = payload
            .get(..CN_MSG_HDRLEN)
            .and_then(CnMsg::from_bytes_copy)
            .filter(|msg| {
                payload.len() <= CONNECTOR_MAX_MSG_SIZE
                    && CN_MSG_HDRLEN + usize::from(msg.len) <= payload.len()
            })
            .map(|msg| msg.id);
        Some(Self {
            offset,
            len: nlmsg_len,
            next: offset + nlmsg_align(nlmsg_len).min(rest.len()),
            nlmsg_flags: header.flags,
            id,
        })
    }
}

/// Whether one of the first `budget` messages of `data` from `offset` on (a frame's `next`) is a
/// valid message for `id`: so that a callback can tell the last of its messages in a datagram.
pub fn more_for(data: &[u8], mut offset: usize, id: CbId, budget: usize) -> bool {
    for _ in 0..budget {
        let Some(frame) = Frame::parse(data, offset) else {
            return false;
        };
        if frame.id == Some(id) {
            return true;
        }
        offset = frame.next;
    }
    false
}

#[kunit_tests(cn_rx)]
mod tests {
    use super::*;

    /// Appends one netlink message with the given `nlmsg_len` and `cn_msg` (`len` field and
    /// actual data size given separately, so that they can disagree).
    fn push_msg(buf: &mut KVec<u8>, nlmsg_len: u32, flags: u16, cn_len: u16, data: usize) {
        let mut push = |bytes: &[u8]| buf.extend_from_slice(bytes, GFP_KERNEL).unwrap();
        push(&nlmsg_len.to_ne_bytes());
        push(&3u16.to_ne_bytes());
        push(&flags.to_ne_bytes());
        push(&[0; 8]);
        push(&[0x0e, 0, 0, 0, 0x56, 0x04, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
        push(&cn_len.to_ne_bytes());
        push(&[0, 0]);
        for _ in 0..data {
            push(b"x");
        }
        let written = NLMSG_HDRLEN + CN_MSG_HDRLEN + data;
        for _ in written..nlmsg_align(written) {
            push(&[0]);
        }
    }

    fn good_len(data: usize) -> u32 {
        (NLMSG_HDRLEN + CN_MSG_HDRLEN + data) as u32
    }

    fn walk(buf: &[u8]) -> KVec<(usize, bool)> {
        let mut out = KVec::new();
        let mut offset = 0;
        while let Some(f) = Frame::parse(buf, offset) {
            out.push((f.offset, f.id.is_some()), GFP_KERNEL).unwrap();
            offset = f.next;
        }
        out
    }

    #[test]
    fn decodes_header_fields() {
        let mut buf = KVec::new();
        push_msg(&mut buf, good_len(5), 0, 5, 5);
        let msg = CnMsg::from_bytes_copy(&buf[NLMSG_HDRLEN..][..CN_MSG_HDRLEN]).unwrap();
        assert_eq!(msg.id, CbId::new(14, 0x456));
        assert_eq!((msg.seq, msg.ack, msg.len, msg.flags), (1, 2, 5, 0));
    }

    #[test]
    fn accepts_one_good_message() {
        let mut buf = KVec::new();
        push_msg(&mut buf, good_len(6), 4, 6, 6);
        let frame = Frame::parse(&buf, 0).unwrap();
        assert_eq!(frame.id, Some(CbId::new(14, 0x456)));
        assert_eq!(frame.nlmsg_flags, 4);
        assert_eq!(frame.next, buf.len());
        assert!(Frame::parse(&buf, frame.next).is_none());
    }

    #[test]
    fn rejects_malformed_messages() {
        // (nlmsg_len, cn_msg len, data bytes present, framed, valid)
        let max = CONNECTOR_MAX_MSG_SIZE - CN_MSG_HDRLEN;
        let cases: [(u32, u16, usize, bool, bool); 9] = [
            // Payload too short for a cn_msg header.
            ((NLMSG_HDRLEN + 19) as u32, 0, 0, true, false),
            // Data length larger than the payload.
            (good_len(4), 5, 4, true, false),
            // Data length smaller than the payload is fine.
            (good_len(8), 4, 8, true, true),
            // nlmsg_len larger than the datagram: not framed at all.
            (good_len(4) + 4, 4, 4, false, false),
            // nlmsg_len shorter than a netlink header.
            (8, 0, 0, false, false),
            // nlmsg_len zero.
            (0, 0, 0, false, false),
            // Exactly the maximum message size.
            (good_len(max), max as u16, max, true, true),
            // One byte over the maximum.
            (good_len(max + 1), (max + 1) as u16, max + 1, true, false),
            // No data at all.
            (good_len(0), 0, 0, true, true),
        ];
        for (nlmsg_len, cn_len, data, framed, valid) in cases {
            let mut buf = KVec::new();
            push_msg(&mut buf, nlmsg_len, 0, cn_len, data);
            let frames = walk(&buf);
            assert_eq!(frames.len(), usize::from(framed));
            if framed {
                assert_eq!(frames[0].1, valid);
            }
        }
    }

    #[test]
    fn rejects_truncated_header() {
        let mut buf = KVec::new();
        push_msg(&mut buf, good_len(0), 0, 0, 0);
        assert_eq!(walk(&buf[..NLMSG_HDRLEN - 1]).len(), 0);
        assert_eq!(walk(&[]).len(), 0);
    }

    #[test]
    fn walks_every_message_of_a_datagram() {
        let mut buf = KVec::new();
        push_msg(&mut buf, good_len(3), 0, 3, 3);
        let second = buf.len();
        push_msg(&mut buf, good_len(1), 0, 2, 1);
        let third = buf.len();
        push_msg(&mut buf, good_len(0), 0, 0, 0);
        let frames = walk(&buf);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], (0, true));
        assert_eq!(frames[1], (second, false));
        assert_eq!(frames[2], (third, true));
    }

    #[test]
    fn tells_the_last_message_for_an_id() {
        let mut buf = KVec::new();
        // Three messages for {14, 0x456}, the second one malformed.
        push_msg(&mut buf, good_len(0), 0, 0, 0);
        push_msg(&mut buf, good_len(1), 0, 2, 1);
        push_msg(&mut buf, good_len(0), 0, 0, 0);
        let id = CbId::new(14, 0x456);
        let first = Frame::parse(&buf, 0).unwrap();
        let second = Frame::parse(&buf, first.next).unwrap();
        let third = Frame::parse(&buf, second.next).unwrap();
        assert!(more_for(&buf, first.next, id, 8));
        // The malformed message does not count; the valid third one does.
        assert!(more_for(&buf, second.next, id, 8));
        assert!(!more_for(&buf, third.next, id, 8));
        // Another id, and a budget that stops before the third message.
        assert!(!more_for(&buf, first.next, CbId::new(14, 0x457), 8));
        assert!(!more_for(&buf, first.next, id, 1));
        assert!(!more_for(&buf, second.next, id, 0));
    }

    #[test]
    fn stops_at_a_lying_length() {
        let mut buf = KVec::new();
        push_msg(&mut buf, good_len(0), 0, 0, 0);
        push_msg(&mut buf, 4096, 0, 0, 0);
        push_msg(&mut buf, good_len(0), 0, 0, 0);
        assert_eq!(walk(&buf).len(), 1);
    }
}
