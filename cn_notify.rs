// SPDX-License-Identifier: GPL-2.0

//! Notification requests: who wants to hear when callbacks are added or removed.
//!
//! A control message to the core's control id is a `struct cn_ctl_msg` and its ranges. A
//! non-zero `group` adds the request, group zero removes the equal one. Whenever a callback whose
//! index and value both fall in one of a request's ranges is added or removed, a message with its
//! id, `ack` [`NotifyEvent::Added`] or [`NotifyEvent::Removed`] and no data goes to the group.

use crate::connector_api::{CbId, CN_GROUPS};
use core::mem::size_of;
use kernel::{
    prelude::*,
    transmute::{AsBytes, FromBytes},
};

/// `struct cn_ctl_msg`, followed by `len` bytes of ranges ([`NotifyRange`]): `idx_notify_num`
/// for the index, then `val_notify_num` for the value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct CnCtlMsg {
    idx_notify_num: u32,
    val_notify_num: u32,
    group: u32,
    len: u32,
}

const _: () = assert!(size_of::<CnCtlMsg>() == 16 && size_of::<NotifyRange>() == 8);

// SAFETY: Four `u32`, no padding: every bit pattern is valid.
unsafe impl FromBytes for CnCtlMsg {}
// SAFETY: As above: every byte is initialised.
unsafe impl AsBytes for CnCtlMsg {}

/// The most ranges one request may carry, for the index and for the value each.
pub const MAX_RANGES: usize = 16;
/// The most requests the core keeps at once.
pub const MAX_REQUESTS: usize = 32;

/// The `ack` of a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum NotifyEvent {
    /// A callback was added.
    Added = 0,
    /// A callback was removed.
    Removed = 1,
}

/// `struct cn_notify_req`: the values `first .. first + range` (`range` may reach past
/// `u32::MAX`; the values there do not exist).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifyRange {
    first: u32,
    range: u32,
}

// SAFETY: Two `u32`, no padding: every bit pattern is valid.
unsafe impl FromBytes for NotifyRange {}
// SAFETY: As above: every byte is initialised.
unsafe impl AsBytes for NotifyRange {}

impl NotifyRange {
    /// Whether `value` lies in the range.
    pub fn contains(&self, value: u32) -> bool {
        value >= self.first && u64::from(value) < u64::from(self.first) + u64::from(self.range)
    }
}

/// One request: its ranges and the group notifications go to.
#[derive(Debug)]
pub struct NotifyRequest {
    group: u32,
    idx: KVec<NotifyRange>,
    val: KVec<NotifyRange>,
}

impl NotifyRequest {
    /// The group its notifications go to; 0 in a removal.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// Whether a change of `id` is to be notified to this request.
    pub fn matches(&self, id: CbId) -> bool {
        self.idx.iter().any(|r| r.contains(id.idx)) && self.val.iter().any(|r| r.contains(id.val))
    }

    /// Parses the data of a control message: `EINVAL` for anything malformed (a short header, `len`
    /// not matching the ranges announced or the bytes present, more than [`MAX_RANGES`] ranges on
    /// a side, a group outside the connector's groups).
    pub fn parse(data: &[u8]) -> Result<Self> {
        let (head, ranges) = CnCtlMsg::from_bytes_copy_prefix(data).ok_or(EINVAL)?;
        let (idx_num, val_num) = (head.idx_notify_num as usize, head.val_notify_num as usize);
        if idx_num > MAX_RANGES || val_num > MAX_RANGES || head.group > CN_GROUPS {
            return Err(EINVAL);
        }
        let ranges_len = (idx_num + val_num) * size_of::<NotifyRange>();
        if head.len as usize != ranges_len || ranges.len() != ranges_len {
            return Err(EINVAL);
        }
        let mut ranges = ranges
            .chunks_exact(size_of::<NotifyRange>())
            .filter_map(NotifyRange::from_bytes_copy);
        let mut take = |count: usize| -> Result<KVec<NotifyRange>> {
            let mut out = KVec::with_capacity(count, GFP_KERNEL)?;
            for range in ranges.by_ref().take(count) {
                out.push(range, GFP_KERNEL)?;
            }
            Ok(out)
        };
        Ok(Self {
            group: head.group,
            idx: take(idx_num)?,
            val: take(val_num)?,
        })
    }
}

/// The requests in force.
#[derive(Default)]
pub struct NotifyRequests {
    requests: KVec<NotifyRequest>,
}

impl NotifyRequests {
    /// Applies a parsed control request: adds it, or with group 0 removes the equal one. `EEXIST`
    /// when adding a request already in force, `ENOENT` when removing one that is not, `ENOSPC`
    /// when [`MAX_REQUESTS`] are in force.
    pub fn apply(&mut self, request: NotifyRequest) -> Result {
        let existing = self.requests.iter().position(|r| {
            r.idx == request.idx
                && r.val == request.val
                && (request.group == 0 || r.group == request.group)
        });
        match (request.group, existing) {
            (0, Some(pos)) => {
                self.requests.remove(pos)?;
                Ok(())
            }
            (0, None) => Err(ENOENT),
            (_, Some(_)) => Err(EEXIST),
            (_, None) if self.requests.len() >= MAX_REQUESTS => Err(ENOSPC),
            (_, None) => Ok(self.requests.push(request, GFP_KERNEL)?),
        }
    }

    /// Whether no request is in force.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The groups to notify of a change of `id`, one entry per matching request.
    pub fn groups_for(&self, id: CbId) -> impl Iterator<Item = u32> + '_ {
        self.requests
            .iter()
            .filter(move |r| r.matches(id))
            .map(NotifyRequest::group)
    }
}

#[kunit_tests(cn_notify)]
mod tests {
    use super::*;

    /// Builds control message data: header fields, then the given ranges.
    fn ctl(idx: &[(u32, u32)], val: &[(u32, u32)], group: u32) -> KVec<u8> {
        let head = CnCtlMsg {
            idx_notify_num: idx.len() as u32,
            val_notify_num: val.len() as u32,
            group,
            len: ((idx.len() + val.len()) * size_of::<NotifyRange>()) as u32,
        };
        let mut buf = KVec::new();
        buf.extend_from_slice(head.as_bytes(), GFP_KERNEL).unwrap();
        for &(first, range) in Iterator::chain(idx.iter(), val.iter()) {
            let range = NotifyRange { first, range };
            buf.extend_from_slice(range.as_bytes(), GFP_KERNEL).unwrap();
        }
        buf
    }

    fn groups(list: &NotifyRequests, id: CbId) -> KVec<u32> {
        let mut out = KVec::new();
        for g in list.groups_for(id) {
            out.push(g, GFP_KERNEL).unwrap();
        }
        out
    }

    #[test]
    fn range_bounds() {
        let r = NotifyRange {
            first: 10,
            range: 5,
        };
        assert!(!r.contains(9));
        assert!(r.contains(10));
        assert!(r.contains(14));
        assert!(!r.contains(15));
        let empty = NotifyRange {
            first: 10,
            range: 0,
        };
        assert!(!empty.contains(10));
        let top = NotifyRange {
            first: u32::MAX - 1,
            range: u32::MAX,
        };
        assert!(top.contains(u32::MAX));
        assert!(!top.contains(0));
    }

    #[test]
    fn matches_needs_idx_and_val() {
        let req = NotifyRequest::parse(&ctl(&[(14, 1)], &[(0x400, 0x100), (0x800, 1)], 5)).unwrap();
        assert_eq!(req.group(), 5);
        assert!(req.matches(CbId::new(14, 0x456)));
        assert!(req.matches(CbId::new(14, 0x800)));
        assert!(!req.matches(CbId::new(15, 0x456)));
        assert!(!req.matches(CbId::new(14, 0x500)));
        // The value ranges are searched from their own start, whichever idx range matched.
        let req = NotifyRequest::parse(&ctl(&[(1, 1), (14, 1)], &[(7, 1)], 5)).unwrap();
        assert!(req.matches(CbId::new(1, 7)));
        assert!(req.matches(CbId::new(14, 7)));
    }

    #[test]
    fn rejects_malformed_control() {
        let good = ctl(&[(1, 1)], &[(1, 1)], 3);
        assert!(NotifyRequest::parse(&good).is_ok());
        // Truncated header.
        assert_eq!(NotifyRequest::parse(&good[..12]).err(), Some(EINVAL));
        // Ranges missing.
        assert_eq!(
            NotifyRequest::parse(&good[..good.len() - 8]).err(),
            Some(EINVAL)
        );
        // Trailing bytes.
        let mut long = ctl(&[(1, 1)], &[(1, 1)], 3);
        long.extend_from_slice(&[0; 8], GFP_KERNEL).unwrap();
        assert_eq!(NotifyRequest::parse(&long).err(), Some(EINVAL));
        // `len` disagreeing with the counts.
        let mut lying = ctl(&[(1, 1)], &[(1, 1)], 3);
        lying[12] = 24;
        assert_eq!(NotifyRequest::parse(&lying).err(), Some(EINVAL));
        // Counts that would overflow a naive size computation.
        let mut huge = ctl(&[], &[], 3);
        huge[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(NotifyRequest::parse(&huge).err(), Some(EINVAL));
        // Too many ranges.
        let many = [(1u32, 1u32); MAX_RANGES + 1];
        assert_eq!(
            NotifyRequest::parse(&ctl(&many, &[(1, 1)], 3)).err(),
            Some(EINVAL)
        );
        // Group beyond the socket's groups.
        assert_eq!(
            NotifyRequest::parse(&ctl(&[(1, 1)], &[(1, 1)], CN_GROUPS + 1)).err(),
            Some(EINVAL)
        );
    }

    #[test]
    fn add_remove_and_bounds() {
        let mut list = NotifyRequests::default();
        let add = |g| NotifyRequest::parse(&ctl(&[(14, 1)], &[(0x456, 2)], g)).unwrap();
        list.apply(add(5)).unwrap();
        list.apply(add(6)).unwrap();
        assert_eq!(list.apply(add(5)), Err(EEXIST));
        assert_eq!(&groups(&list, CbId::new(14, 0x457))[..], &[5, 6]);
        assert_eq!(groups(&list, CbId::new(14, 0x458)).len(), 0);
        // Group 0 removes one equal request.
        list.apply(add(0)).unwrap();
        assert_eq!(&groups(&list, CbId::new(14, 0x456))[..], &[6]);
        list.apply(add(0)).unwrap();
        assert_eq!(list.apply(add(0)), Err(ENOENT));
        for i in 0..MAX_REQUESTS as u32 {
            list.apply(NotifyRequest::parse(&ctl(&[(i, 1)], &[(0, 1)], 1)).unwrap())
                .unwrap();
        }
        assert_eq!(list.apply(add(5)), Err(ENOSPC));
    }
}
