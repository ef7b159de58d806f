// SPDX-License-Identifier: GPL-2.0
/*
 * cn_bench_peer: the connector user of `make bench`. Registers BENCH_IDX:BENCH_VAL and answers
 * the benchmark protocol of bench_proto.h through the C connector API only, without logging, so
 * that the same module measures the in-tree cn.ko and our connector.ko (the benchmark kernel has
 * no symbol versions: it loads with either).
 */
#include <linux/connector.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>

#include "bench_proto.h"

static const struct cb_id bench_id = { BENCH_IDX, BENCH_VAL };
static const struct cb_id bench_dummy_id = { BENCH_IDX, BENCH_VAL + 1 };

/* REG/UNREG: the highest BENCH_REG_IDX:val that may be registered (unregistered at exit). */
static DEFINE_MUTEX(bench_reg_lock);
static u32 bench_reg_top;

static int bench_send(struct cn_msg *msg, u32 portid, u32 group, gfp_t gfp)
{
	return cn_netlink_send_mult(msg, msg->len, portid, group, gfp, NULL, NULL);
}

/* The callback of ADDDEL and REG: never called (nobody sends to those ids). */
static void bench_dummy(struct cn_msg *msg, struct netlink_skb_parms *nsp)
{
}

static u64 bench_adddel(u32 n)
{
	u64 start = ktime_get_ns();
	u32 i;

	for (i = 0; i < n; i++) {
		cn_add_callback(&bench_dummy_id, "bench_dummy", bench_dummy);
		cn_del_callback(&bench_dummy_id);
	}
	return ktime_get_ns() - start;
}

/* Unregisters BENCH_REG_IDX:1..n; the caller holds bench_reg_lock. */
static void bench_unreg_locked(u32 n)
{
	u32 val;

	for (val = 1; val <= n; val++)
		cn_del_callback(&(struct cb_id){ BENCH_REG_IDX, val });
	if (n >= bench_reg_top)
		bench_reg_top = 0;
}

static u64 bench_reg(u32 n)
{
	u64 registered = 0;
	u32 val;

	mutex_lock(&bench_reg_lock);
	for (val = 1; val <= n; val++)
		if (!cn_add_callback(&(struct cb_id){ BENCH_REG_IDX, val }, "bench_dummy",
				     bench_dummy))
			registered++;
	bench_reg_top = max(bench_reg_top, n);
	mutex_unlock(&bench_reg_lock);
	return registered;
}

static u64 bench_unreg(u32 n)
{
	mutex_lock(&bench_reg_lock);
	bench_unreg_locked(n);
	mutex_unlock(&bench_reg_lock);
	return n;
}

static const struct bench_target bench_peer = {
	.send = bench_send,
	.adddel = bench_adddel,
	.reg = bench_reg,
	.unreg = bench_unreg,
};

static void bench_callback(struct cn_msg *msg, struct netlink_skb_parms *nsp)
{
	bench_handle(&bench_peer, msg, nsp->portid);
}

static int __init cn_bench_peer_init(void)
{
	int err = cn_add_callback(&bench_id, "cn_bench_peer", bench_callback);

	if (err)
		pr_err("cn_bench_peer: cannot register %u:%u: %d\n", bench_id.idx, bench_id.val,
		       err);
	return err;
}

static void __exit cn_bench_peer_exit(void)
{
	/* The request callback first, so that no REG follows (the benchmark never unloads during
	 * a request: only our core would wait for a running one here). */
	cn_del_callback(&bench_id);
	mutex_lock(&bench_reg_lock);
	bench_unreg_locked(bench_reg_top);
	mutex_unlock(&bench_reg_lock);
}

module_init(cn_bench_peer_init);
module_exit(cn_bench_peer_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Connector benchmark peer (make bench): counts, echoes, bursts, registrations");
