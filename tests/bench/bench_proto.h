/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The benchmark protocol of `make bench`, shared by the connector peer (cn_bench_peer.c) and the
 * bare netlink floor (nl_bench_floor.c); `cnctl bench` is its userspace side.
 *
 * Every message is a netlink header (NLMSG_DONE), a struct cn_msg with id BENCH_IDX:BENCH_VAL
 * and its data. The operation is cn_msg.ack; replies are unicast to the sender's port, without
 * waiting for room, with the same id, the request's seq and ack = the operation:
 *   COUNT   counts the message (any data), no reply
 *   ECHO    sends the message back unchanged
 *   REPORT  replies with the count as u64 (native endian) and resets it
 *   BURST   data u32 count, u32 size: broadcasts count messages of size zero bytes (seq = i,
 *           ack 0) to group BENCH_IDX, replies with the number of sends that returned 0 (u64)
 *   ADDDEL  data u32 n: n times add and delete a callback, replies with the elapsed ns (u64)
 *   REG     data u32 n: registers callbacks BENCH_REG_IDX:1..n, replies with how many (u64)
 *   UNREG   data u32 n: unregisters BENCH_REG_IDX:1..n, replies with n (u64)
 * A target that has no callbacks (the floor) replies U64_MAX to ADDDEL, REG and UNREG.
 */
#ifndef BENCH_PROTO_H
#define BENCH_PROTO_H

#include <linux/atomic.h>
#include <linux/connector.h>
#include <linux/limits.h>
#include <linux/slab.h>
#include <linux/string.h>

#define BENCH_IDX 20
#define BENCH_VAL 1
#define BENCH_REG_IDX 21
/* The largest BURST message (its data): below CONNECTOR_MAX_MSG_SIZE. */
#define BENCH_MAX_DATA 16000

enum bench_op {
	BENCH_COUNT,
	BENCH_ECHO,
	BENCH_REPORT,
	BENCH_BURST,
	BENCH_ADDDEL,
	BENCH_REG,
	BENCH_UNREG,
};

/* What differs between the peer and the floor. */
struct bench_target {
	/* Sends msg (msg->len bytes of data) to portid or, if portid is 0, to group. */
	int (*send)(struct cn_msg *msg, u32 portid, u32 group, gfp_t gfp);
	/* ADDDEL, REG and UNREG (see the top); NULL where there are no callbacks. */
	u64 (*adddel)(u32 n);
	u64 (*reg)(u32 n);
	u64 (*unreg)(u32 n);
};

static atomic64_t bench_count = ATOMIC64_INIT(0);

/*
 * Replies val (u64) to the request req of port portid. Like ECHO non-blocking: a requester that
 * stopped reading never keeps us waiting (its reply is dropped).
 */
static void bench_reply(const struct bench_target *t, const struct cn_msg *req, u32 portid,
			u64 val)
{
	u8 buf[sizeof(struct cn_msg) + sizeof(u64)] __aligned(8);
	struct cn_msg *reply = (struct cn_msg *)buf;

	*reply = (struct cn_msg){ .id = req->id, .seq = req->seq, .ack = req->ack,
				  .len = sizeof(val) };
	memcpy(reply->data, &val, sizeof(val));
	t->send(reply, portid, 0, GFP_ATOMIC);
}

/* BURST: count messages of size zero bytes to group BENCH_IDX; returns the sends that worked. */
static u64 bench_burst(const struct bench_target *t, u32 count, u32 size)
{
	struct cn_msg *msg;
	u64 sent = 0;
	u32 i;

	if (size > BENCH_MAX_DATA)
		return 0;
	msg = kzalloc(sizeof(*msg) + size, GFP_KERNEL);
	if (!msg)
		return 0;
	msg->id = (struct cb_id){ BENCH_IDX, BENCH_VAL };
	msg->len = size;
	for (i = 0; i < count; i++) {
		msg->seq = i;
		if (t->send(msg, 0, BENCH_IDX, GFP_KERNEL) == 0)
			sent++;
	}
	kfree(msg);
	return sent;
}

/* The u32 number i of the request's data, 0 if the data is too short. */
static u32 bench_arg(const struct cn_msg *msg, unsigned int i)
{
	u32 v = 0;

	if (msg->len >= (i + 1) * sizeof(u32))
		memcpy(&v, msg->data + i * sizeof(u32), sizeof(v));
	return v;
}

/* Handles one request msg (already checked by the caller) from port portid. */
static void bench_handle(const struct bench_target *t, struct cn_msg *msg, u32 portid)
{
	if (msg->id.idx != BENCH_IDX || msg->id.val != BENCH_VAL)
		return;
	switch (msg->ack) {
	case BENCH_COUNT:
		atomic64_inc(&bench_count);
		break;
	case BENCH_ECHO:
		t->send(msg, portid, 0, GFP_ATOMIC);
		break;
	case BENCH_REPORT:
		bench_reply(t, msg, portid, atomic64_xchg(&bench_count, 0));
		break;
	case BENCH_BURST:
		bench_reply(t, msg, portid, bench_burst(t, bench_arg(msg, 0), bench_arg(msg, 1)));
		break;
	case BENCH_ADDDEL:
		bench_reply(t, msg, portid, t->adddel ? t->adddel(bench_arg(msg, 0)) : U64_MAX);
		break;
	case BENCH_REG:
		bench_reply(t, msg, portid, t->reg ? t->reg(bench_arg(msg, 0)) : U64_MAX);
		break;
	case BENCH_UNREG:
		bench_reply(t, msg, portid, t->unreg ? t->unreg(bench_arg(msg, 0)) : U64_MAX);
		break;
	}
}

#endif /* BENCH_PROTO_H */
