// SPDX-License-Identifier: GPL-2.0

//! A connector user with a latent deadlock, for the check of the core's lockdep annotation: its
//! callback takes a mutex, and its unload unregisters the callback while holding that mutex. If a
//! message were in its callback at that moment, the unload would wait for the callback, which
//! waits for the mutex: a hang. Lockdep must report the inversion as soon as both orders have been
//! seen once (a message, then the unload), without the hang having to happen.

use kernel::prelude::*;

#[path = "../../connector.rs"]
pub mod connector;

use connector::{Callback, CbId, Message, Registration, Sender};

module! {
    type: CnDelUnderLock,
    name: "cn_del_under_lock",
    authors: ["Rust connector developers"],
    description: "Unregisters its connector callback under a lock the callback takes (lockdep check)",
    license: "GPL",
}

/// The id it registers: `{CN_NETLINK_USERS + 5, 1}`.
const ID: CbId = CbId::new(connector::CN_NETLINK_USERS + 5, 1);

kernel::sync::global_lock! {
    // SAFETY: Initialised first thing in the module's initialiser, before any use.
    unsafe(uninit) static STATE: Mutex<u32> = 0;
}

struct TakesTheLock;

impl Callback for TakesTheLock {
    fn receive(msg: &Message<'_>, _sender: &Sender<'_>) {
        let mut seen = STATE.lock();
        *seen += 1;
        pr_info!(
            "message seq={} handled under the lock ({} so far)\n",
            msg.seq(),
            *seen
        );
    }
}

struct CnDelUnderLock {
    registration: Option<Registration>,
}

impl kernel::Module for CnDelUnderLock {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, before anything that could use `STATE` is registered.
        unsafe { STATE.init() };
        let registration = Registration::new::<TakesTheLock>(ID, c"cn_del_under_lock")?;
        pr_info!("registered {}:{}\n", ID.idx, ID.val);
        Ok(Self {
            registration: Some(registration),
        })
    }
}

impl Drop for CnDelUnderLock {
    fn drop(&mut self) {
        // The deliberate bug: unregistering waits for the callback, which takes this lock.
        let _state = STATE.lock();
        drop(self.registration.take());
    }
}
