// SPDX-License-Identifier: GPL-2.0
/*
 * The one field of struct sock the connector core needs. The kernel crate's bindings see
 * struct sock as opaque, so this accessor plays the part of a rust/helpers/ helper for an
 * out-of-tree module.
 */

#include <linux/export.h>
#include <linux/slab.h>
#include <net/sock.h>

void cn_sock_free_user_data(struct sock *sk);
void *cn_sock_user_data(struct sock *sk);
void *cn_sock_attach_user_data(struct sock *sk, void *data);

/* Called from the netlink release hook: the socket is going away and nobody else uses the data. */
void cn_sock_free_user_data(struct sock *sk)
{
	kfree(sk->sk_user_data);
	sk->sk_user_data = NULL;
}

/*
 * Per-socket state of connector users (SocketState in connector.rs): the user data of a
 * userspace socket, read by the callbacks of the messages it sends and by broadcast filters, and
 * attached once, by the first callback that needs it. It must be kmalloc()ed: the release hook
 * above frees it.
 */
void *cn_sock_user_data(struct sock *sk)
{
	return READ_ONCE(sk->sk_user_data);
}
EXPORT_SYMBOL_GPL(cn_sock_user_data);

/* Attaches @data unless the socket already has user data; returns the user data it now has. */
void *cn_sock_attach_user_data(struct sock *sk, void *data)
{
	void *old = cmpxchg(&sk->sk_user_data, NULL, data);

	return old ?: data;
}
EXPORT_SYMBOL_GPL(cn_sock_attach_user_data);
