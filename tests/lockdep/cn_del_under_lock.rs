// SPDX-License-Identifier: GPL-2.0

//! A connector user with a latent deadlock, for the check of the core's lockdep annotation: its
//! callback takes a mutex, and its unload unregisters the callback while holding that mutex. If a
//! message were in its callback at that moment, the unload would wait for the callback, which
//! waits for the mutex: a hang. Lockdep must report the inversion as soon as both orders have been
//! seen once (a message, then the unload), without the hang having to happen.

use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

#[path = "../../connector_api.rs"]
pub mod connector_api;

use connector_api::{Callback, CbId, Message, Registration, Sender};

module! {
    type: CnDelUnderLock,
    name: "cn_del_under_lock",
    authors: ["Rust connector developers"],
    description: "Unregisters its connector callback under a lock the callback takes (lockdep check)",
    license: "GPL",
}

/// The id it registers: `{CN_NETLINK_USERS + 5, 1}`.
const ID: CbId = CbId::new(connector_api::CN_NETLINK_USERS + 5, 1);

/// The callback and the lock it takes.
#[pin_data]
struct TakesTheLock {
    #[pin]
    seen: Mutex<u32>,
}

impl Callback for TakesTheLock {
    fn receive(&self, msg: &Message<'_>, _sender: &Sender<'_>) {
        let mut seen = self.seen.lock();
        *seen += 1;
        pr_info!(
            "message seq={} handled under the lock ({} so far)\n",
            msg.seq(),
            *seen
        );
    }
}

struct CnDelUnderLock {
    registration: Option<Registration<TakesTheLock>>,
}

impl kernel::Module for CnDelUnderLock {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let callback = Arc::pin_init(
            pin_init!(TakesTheLock {
                seen <- new_mutex!(0, "cn_del_under_lock_seen"),
            }),
            GFP_KERNEL,
        )?;
        let registration = Registration::new(ID, c"cn_del_under_lock", callback)?;
        pr_info!("registered {}:{}\n", ID.idx, ID.val);
        Ok(Self {
            registration: Some(registration),
        })
    }
}

impl Drop for CnDelUnderLock {
    fn drop(&mut self) {
        let Some(registration) = self.registration.take() else {
            return;
        };
        // The deliberate bug: unregistering waits for the callback, which takes this lock.
        let callback = registration.data().clone();
        let _seen = callback.seen.lock();
        drop(registration);
    }
}
