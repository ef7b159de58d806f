// SPDX-License-Identifier: GPL-2.0
/*
 * nl_bench_floor: the floor of `make bench`. A bare netlink kernel socket on the unused unit
 * BENCH_NETLINK_UNIT that answers the benchmark protocol of bench_proto.h with no connector in
 * between: the same checks of one message per datagram as the C connector's receive function,
 * no callback lookup, and sends built the way cn_netlink_send_mult() builds them. What a
 * connector core costs is its figure above this one.
 */
#include <linux/module.h>
#include <linux/netlink.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "bench_proto.h"

#define BENCH_NETLINK_UNIT 30

static struct sock *floor_sk;

/* cn_netlink_send_mult() for a given portid or group, without the callback lookup. */
static int floor_send(struct cn_msg *msg, u32 portid, u32 group, gfp_t gfp)
{
	size_t size = sizeof(*msg) + msg->len;
	struct nlmsghdr *nlh;
	struct sk_buff *skb;

	if (!portid && !netlink_has_listeners(floor_sk, group))
		return -ESRCH;
	skb = nlmsg_new(size, gfp);
	if (!skb)
		return -ENOMEM;
	nlh = nlmsg_put(skb, 0, msg->seq, NLMSG_DONE, size, 0);
	if (!nlh) {
		kfree_skb(skb);
		return -EMSGSIZE;
	}
	memcpy(nlmsg_data(nlh), msg, size);
	NETLINK_CB(skb).dst_group = group;
	if (group)
		return netlink_broadcast(floor_sk, skb, portid, group, gfp);
	return netlink_unicast(floor_sk, skb, portid, !gfpflags_allow_blocking(gfp));
}

static const struct bench_target bench_floor = { .send = floor_send };

/* The input of the socket: the first message of the datagram, checked as the C connector does. */
static void floor_rx(struct sk_buff *skb)
{
	struct nlmsghdr *nlh;
	struct cn_msg *msg;
	int len;

	if (skb->len < NLMSG_HDRLEN)
		return;
	nlh = nlmsg_hdr(skb);
	len = nlmsg_len(nlh);
	if (len < (int)sizeof(*msg) || skb->len < nlh->nlmsg_len || len > CONNECTOR_MAX_MSG_SIZE)
		return;
	msg = nlmsg_data(nlh);
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*msg) + msg->len)
		return;
	bench_handle(&bench_floor, msg, NETLINK_CB(skb).portid);
}

static int __init nl_bench_floor_init(void)
{
	struct netlink_kernel_cfg cfg = {
		.groups = 32,
		.input = floor_rx,
	};

	floor_sk = netlink_kernel_create(&init_net, BENCH_NETLINK_UNIT, &cfg);
	if (!floor_sk) {
		pr_err("nl_bench_floor: netlink unit %d is taken\n", BENCH_NETLINK_UNIT);
		return -EBUSY;
	}
	return 0;
}

static void __exit nl_bench_floor_exit(void)
{
	netlink_kernel_release(floor_sk);
}

module_init(nl_bench_floor_init);
module_exit(nl_bench_floor_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Bare netlink socket answering the connector benchmark protocol (make bench)");
