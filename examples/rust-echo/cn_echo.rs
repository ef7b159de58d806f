// SPDX-License-Identifier: GPL-2.0

//! An echo over the connector: every message to {15, 1} goes back to its sender.

use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc,
    },
};

pub mod connector_api; // connector_api.rs, copied beside this file by the Makefile

use connector_api::{Callback, CbId, Destination, Message, Registration, Sender, Sleep};

module! {
    type: EchoModule,
    name: "cn_echo",
    authors: ["You"],
    description: "Echo over the connector",
    license: "GPL",
}

/// The callback's data: how many answers went out.
struct Echo {
    answered: Atomic<u32>,
}

impl Callback for Echo {
    fn receive(&self, msg: &Message<'_>, sender: &Sender<'_>) {
        // Same id and seq, ack + 1: the reply the connector protocol prescribes.
        let reply = msg.reply(msg.data());
        if reply
            .send(Destination::Port(sender.portid()), Sleep::MayBlock)
            .is_ok()
        {
            self.answered.fetch_add(1, Relaxed);
        }
    }
}

struct EchoModule {
    // Dropping the registration (at unload) unregisters, and waits (see above), then drops the
    // data.
    registration: Registration<Echo>,
}

impl kernel::Module for EchoModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let echo = Arc::new(
            Echo {
                answered: Atomic::new(0),
            },
            GFP_KERNEL,
        )?;
        let registration = Registration::new(CbId::new(15, 1), c"echo", echo)?;
        Ok(Self { registration })
    }
}

impl Drop for EchoModule {
    fn drop(&mut self) {
        let answered = self.registration.data().answered.load(Relaxed);
        pr_info!("answered {} messages\n", answered);
    }
}
