// SPDX-License-Identifier: GPL-2.0
/*
 * cn_userdata: a C user of the connector that keeps per-socket state in the sending socket's
 * sk_user_data, as the kernel's process events connector (drivers/connector/cn_proc.c) does:
 * the first message of a socket kzalloc()s 8 bytes and stores them there, every message then
 * writes to them. It never frees them itself: with the C connector the release hook kfree()s a
 * socket's sk_user_data when the socket closes as a member of group CN_IDX_PROC.
 *
 * Registers {CN_NETLINK_USERS + 4, 0x1} and logs every message:
 *   cn_userdata: seq=S messages=N [new state]
 */
#include <linux/connector.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <net/sock.h>

/* 8 bytes, as struct proc_input. */
struct cn_userdata_state {
	u32 messages;
	u32 last_seq;
};

static struct cb_id cn_userdata_id = { CN_NETLINK_USERS + 4, 0x1 };

static void cn_userdata_callback(struct cn_msg *msg, struct netlink_skb_parms *nsp)
{
	struct cn_userdata_state *state;
	struct sock *sk = nsp->sk;
	bool fresh = false;

	if (!sk)
		return;
	state = sk->sk_user_data;
	if (!state) {
		state = kzalloc(sizeof(*state), GFP_KERNEL);
		if (!state)
			return;
		sk->sk_user_data = state;
		fresh = true;
	}
	state->messages++;
	state->last_seq = msg->seq;
	pr_info("cn_userdata: seq=%u messages=%u%s\n", msg->seq, state->messages,
		fresh ? " new state" : "");
}

static int __init cn_userdata_init(void)
{
	int err = cn_add_callback(&cn_userdata_id, "cn_userdata", cn_userdata_callback);

	if (err)
		pr_err("cn_userdata: cannot register %u:%u: %d\n", cn_userdata_id.idx,
		       cn_userdata_id.val, err);
	return err;
}

static void __exit cn_userdata_exit(void)
{
	cn_del_callback(&cn_userdata_id);
}

module_init(cn_userdata_init);
module_exit(cn_userdata_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Connector test peer keeping per-socket state in sk_user_data, as cn_proc does");
