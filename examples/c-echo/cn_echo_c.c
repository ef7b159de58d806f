// SPDX-License-Identifier: GPL-2.0
/*
 * A C consumer of the connector: every message to {15, 2} goes back to its sender, with the same
 * id and seq and ack + 1, as the connector protocol prescribes for replies.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/connector.h>
#include <linux/module.h>
#include <linux/slab.h>

static const struct cb_id cn_echo_c_id = { .idx = 15, .val = 2 };
static atomic_t cn_echo_c_answered = ATOMIC_INIT(0);

/*
 * Runs in the sender's context; the core has checked that msg->len bytes of data follow the
 * header. The reply is sent to the sender's port only: cn_netlink_send() then returns the bytes
 * queued, or a negative errno.
 */
static void cn_echo_c_receive(struct cn_msg *msg, struct netlink_skb_parms *nsp)
{
	struct cn_msg *reply;

	reply = kmemdup(msg, sizeof(*msg) + msg->len, GFP_ATOMIC);
	if (!reply)
		return;
	reply->ack = msg->ack + 1;
	if (cn_netlink_send(reply, nsp->portid, 0, GFP_ATOMIC) >= 0)
		atomic_inc(&cn_echo_c_answered);
	kfree(reply);
}

static int __init cn_echo_c_init(void)
{
	return cn_add_callback(&cn_echo_c_id, "cn_echo_c", cn_echo_c_receive);
}

static void __exit cn_echo_c_exit(void)
{
	/* Returns once no call of the callback runs any more. */
	cn_del_callback(&cn_echo_c_id);
	pr_info("answered %d messages\n", atomic_read(&cn_echo_c_answered));
}

module_init(cn_echo_c_init);
module_exit(cn_echo_c_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Echo over the connector, in C");
