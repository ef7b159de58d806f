// SPDX-License-Identifier: GPL-2.0
/* connector.ko's exports, defined in cn_abi.rs: exported as rust/exports.c does, for modpost. */

#include <linux/connector.h>
#include <linux/export.h>

/* The C ABI of include/linux/connector.h. */
EXPORT_SYMBOL_GPL(cn_add_callback);
EXPORT_SYMBOL_GPL(cn_del_callback);
EXPORT_SYMBOL_GPL(cn_netlink_send_mult);
EXPORT_SYMBOL_GPL(cn_netlink_send);

/* Not in connector.h: the original documentation's name, and the safe Rust API's functions. */
struct cn_delivery;
struct net;
struct sock;
int cn_netlink_send_multi(struct cn_msg *msg, u16 len, u32 portid, u32 group, gfp_t gfp_mask);
int cn_add_rust_callback_in(const struct cb_id *id, const char *name,
			 void (*callback)(const void *ctx, const struct cn_delivery *delivery),
			 const void *ctx, bool all_namespaces);
int cn_rust_send_in(struct net *net, const struct cn_msg *header, const void *data, size_t len,
		 u32 portid, u32 group, gfp_t gfp_mask, netlink_filter_fn filter, void *filter_data);
bool cn_maybe_get_net(struct net *net);
void cn_put_net(struct net *net);
void *cn_sock_state_get(struct sock *sk, const struct cb_id *owner, const void *type_id);
int cn_sock_state_attach(struct sock *sk, const struct cb_id *owner, const void *type_id,
			 void *data, void (*drop)(void *data), gfp_t gfp, void **attached);
int cn_sock_state_visit(struct sock *sk, const struct cb_id *owner, const void *type_id,
			int (*visit)(const void *state, void *ctx), void *ctx);

EXPORT_SYMBOL_GPL(cn_netlink_send_multi);
EXPORT_SYMBOL_GPL(cn_add_rust_callback_in);
EXPORT_SYMBOL_GPL(cn_rust_send_in);
EXPORT_SYMBOL_GPL(cn_sock_state_get);
EXPORT_SYMBOL_GPL(cn_sock_state_attach);
EXPORT_SYMBOL_GPL(cn_sock_state_visit);
EXPORT_SYMBOL_GPL(cn_maybe_get_net);
EXPORT_SYMBOL_GPL(cn_put_net);
