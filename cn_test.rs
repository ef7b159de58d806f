// SPDX-License-Identifier: GPL-2.0

//! Connector test module: the Rust counterpart of the kernel's `samples/connector/cn_test.c`.
//!
//! Registers `{CN_NETLINK_USERS + 3, 0x456}` and `{CN_NETLINK_USERS + 3, 0x457}`, logs every
//! message it receives, and broadcasts `counter = N` from a timer every `interval_ms` to the
//! group of `0x457`. With `reply=1` it also answers each message the way the connector protocol
//! prescribes: same id and `seq`, `ack + 1`, same data, to the sender's port. With
//! `all_namespaces=1` its ids take messages from every network namespace, logged with the
//! sender's namespace (`net=INODE`) and answered there. Uses only the safe API of
//! `connector_api.rs`.

use kernel::{
    impl_has_hr_timer,
    prelude::*,
    sync::Arc,
    time::{
        delay::fsleep,
        hrtimer::{
            HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer, HrTimerRestart,
            RelativeSoftMode,
        },
        Delta, Monotonic,
    },
};

pub mod connector_api;

use connector_api::{
    Callback, CbId, Destination, Message, Namespace, Namespaces, Outgoing, Registration, Sender,
    Sleep,
};

module! {
    type: CnTest,
    name: "cn_test",
    authors: ["Rust connector developers"],
    description: "Connector's test module, in Rust",
    license: "GPL",
    params: {
        interval_ms: u32 {
            default: 1000,
            description: "Milliseconds between two timer broadcasts (0: no timer)",
        },
        reply: bool {
            default: false,
            description: "Answer every message with seq, ack + 1 and the same data",
        },
        delay_ms: u32 {
            default: 0,
            description: "Milliseconds each callback sleeps before it returns (unload tests)",
        },
        all_namespaces: bool {
            default: false,
            description: "Take messages from every network namespace, not the initial one only",
        },
    },
}

/// The first of the two ids, as in the C sample.
const CN_TEST_ID: CbId = CbId::new(connector_api::CN_NETLINK_USERS + 3, 0x456);
/// The second id, which the timer's broadcasts carry.
const CN_TEST_TIMER_ID: CbId = CbId::new(CN_TEST_ID.idx, CN_TEST_ID.val + 1);

/// The callback of both ids, with the behaviour the module parameters chose at load.
struct CnTestCallback {
    /// How long each invocation sleeps before it returns (`delay_ms`).
    delay: Option<Delta>,
    /// Whether every message is answered (`reply`).
    reply: bool,
}

impl Callback for CnTestCallback {
    fn receive(&self, msg: &Message<'_>, sender: &Sender<'_>) {
        let data = msg.data();
        let text = data.split(|&b| b == 0).next().unwrap_or_default();
        let net = sender.net();
        pr_info!(
            "cn_test_callback: {}idx={:x}, val={:x}, seq={}, ack={}, len={}: {}.\n",
            NetTag(net),
            msg.id().idx,
            msg.id().val,
            msg.seq(),
            msg.ack(),
            data.len(),
            kernel::str::BStr::from_bytes(text)
        );
        if let Some(delay) = self.delay {
            fsleep(delay);
            pr_info!("cn_test_callback: done seq={}\n", msg.seq());
        }
        if self.reply {
            // Never waits for a sender that does not read: its reply is dropped (`EAGAIN`), as a
            // broadcast to it would be, and it sees `ENOBUFS`. That is its own doing: no warning.
            match msg
                .reply(data)
                .send(Destination::Port(sender.portid()), Sleep::MayBlock)
            {
                Ok(()) | Err(EAGAIN) => {}
                Err(e) => pr_warn!("reply to port {} failed: {:?}\n", sender.portid(), e),
            }
        }
    }
}

/// How a message's log line names the sender's network namespace: not at all for the initial
/// one (the C sample's format), `net=INODE: ` for the others.
struct NetTag<'a>(Namespace<'a>);

impl kernel::fmt::Display for NetTag<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        if self.0.is_initial() {
            Ok(())
        } else {
            write!(f, "net={}: ", self.0.inode())
        }
    }
}

/// The periodic broadcast.
#[pin_data]
struct Ticker {
    #[pin]
    timer: HrTimer<Self>,
    interval: Delta,
    counter: kernel::sync::atomic::Atomic<u32>,
}

impl HrTimerCallback for Ticker {
    type Pointer<'a> = Arc<Self>;

    fn run(
        this: kernel::sync::ArcBorrow<'_, Self>,
        mut ctx: HrTimerCallbackContext<'_, Self>,
    ) -> HrTimerRestart {
        let counter = this
            .counter
            .fetch_add(1, kernel::sync::atomic::ordering::Relaxed);
        let mut text = [0u8; 32];
        let len = {
            let mut w = kernel::str::Formatter::new(&mut text);
            // Always fits: "counter = " and at most ten digits.
            let _ = core::fmt::Write::write_fmt(&mut w, format_args!("counter = {counter}"));
            w.bytes_written()
        };
        let msg = Outgoing {
            id: CN_TEST_TIMER_ID,
            seq: counter,
            ack: 0,
            flags: 0,
            // With the terminating NUL, as the C sample sends it.
            data: &text[..=len],
        };
        // Nobody listening (`ESRCH`) is the normal case.
        let _ = msg.send(Destination::Registered, Sleep::Atomic);
        ctx.forward_now(this.interval);
        HrTimerRestart::Restart
    }
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Ticker {
        mode: RelativeSoftMode<Monotonic>, field: self.timer
    }
}

/// Logs the end of the unload, once everything else has been dropped.
struct Farewell;

impl Drop for Farewell {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}

struct CnTest {
    // Dropped in this order: the timer stops before the callbacks go.
    _ticker: Option<kernel::time::hrtimer::ArcHrTimerHandle<Ticker>>,
    _timer_id: Registration<CnTestCallback>,
    _id: Registration<CnTestCallback>,
    _farewell: Farewell,
}

impl kernel::Module for CnTest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let delay_ms = module_parameters::delay_ms.value();
        let callback = Arc::new(
            CnTestCallback {
                delay: (delay_ms > 0).then(|| Delta::from_millis(i64::from(delay_ms))),
                reply: module_parameters::reply.value(),
            },
            GFP_KERNEL,
        )?;
        let namespaces = if module_parameters::all_namespaces.value() {
            Namespaces::All
        } else {
            Namespaces::Initial
        };
        let id = Registration::new_in(CN_TEST_ID, c"cn_test", callback.clone(), namespaces)?;
        let timer_id = Registration::new_in(CN_TEST_TIMER_ID, c"cn_test", callback, namespaces)?;
        let interval_ms = module_parameters::interval_ms.value();
        let ticker = if interval_ms > 0 {
            let interval = Delta::from_millis(i64::from(interval_ms));
            let ticker = Arc::pin_init(
                pin_init!(Ticker {
                    timer <- HrTimer::new(),
                    interval,
                    counter: kernel::sync::atomic::Atomic::new(0),
                }),
                GFP_KERNEL,
            )?;
            Some(ticker.start(interval))
        } else {
            None
        };
        pr_info!(
            "initialized with id={{{}.{}}}\n",
            CN_TEST_TIMER_ID.idx,
            CN_TEST_TIMER_ID.val
        );
        Ok(Self {
            _ticker: ticker,
            _timer_id: timer_id,
            _id: id,
            _farewell: Farewell,
        })
    }
}
