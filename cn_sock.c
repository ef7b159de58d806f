// SPDX-License-Identifier: GPL-2.0
/*
 * The one field of struct sock the connector core needs. The kernel crate's bindings see
 * struct sock as opaque, so this accessor plays the part of a rust/helpers/ helper for an
 * out-of-tree module.
 */

#include <linux/slab.h>
#include <net/sock.h>

void cn_sock_free_user_data(struct sock *sk);

/* Called from the netlink release hook: the socket is going away and nobody else uses the data. */
void cn_sock_free_user_data(struct sock *sk)
{
	kfree(sk->sk_user_data);
	sk->sk_user_data = NULL;
}
