// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel crate does not bind (static inlines, macros, fields of structures opaque to
 * Rust), for cn_netlink.rs (sockets), cn_waitmap.rs (the wait map) and connector_api.rs
 * (references on network namespaces, exported by cn_exports.c).
 */

#include <linux/connector.h>
#include <linux/lockdep.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>

void cn_sock_kfree_user_data_if_member(struct sock *sk, unsigned long *groups,
				       unsigned int group);
void cn_sock_set_sndtimeo_ms(struct sock *sk, unsigned int ms);
void cn_cond_resched(void);
struct net *cn_sock_net(const struct sock *sk);
void *cn_net_generic(const struct net *net, unsigned int id);
bool cn_maybe_get_net(struct net *net);
void cn_put_net(struct net *net);
struct cn_wait_map *cn_wait_map_new(const char *name);
void cn_wait_map_free(struct cn_wait_map *map);
void cn_wait_map_acquire(struct cn_wait_map *map);
void cn_wait_map_release(struct cn_wait_map *map);

/* For a release hook: kfree() @sk's sk_user_data if it is in @group (1-based) of @groups. */
void cn_sock_kfree_user_data_if_member(struct sock *sk, unsigned long *groups,
				       unsigned int group)
{
	if (groups && group && test_bit(group - 1, groups)) {
		kfree(sk->sk_user_data);
		sk->sk_user_data = NULL;
	}
}

/* netlink_unicast() from the kernel socket @sk waits for room at most its send timeout. */
void cn_sock_set_sndtimeo_ms(struct sock *sk, unsigned int ms)
{
	WRITE_ONCE(sk->sk_sndtimeo, msecs_to_jiffies(ms));
}

/* The network namespace of @sk. */
struct net *cn_sock_net(const struct sock *sk)
{
	return sock_net(sk);
}

/* The data of the pernet subsystem registered with @id in @net. */
void *cn_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

/* A reference on @net, unless it is being torn down (false); dropped by cn_put_net(). */
bool cn_maybe_get_net(struct net *net)
{
	return maybe_get_net(net);
}

void cn_put_net(struct net *net)
{
	put_net(net);
}

/* cond_resched() is a macro over a static call. */
void cn_cond_resched(void)
{
	cond_resched();
}

/*
 * The lockdep map of the wait for a callback's invocations, with a class of its own: see WaitMap
 * in cn_waitmap.rs. Without CONFIG_LOCKDEP the structure is empty and the calls do nothing.
 */
struct cn_wait_map {
	struct lock_class_key key;
	struct lockdep_map map;
	char name[CN_CBQ_NAMELEN];
};

struct cn_wait_map *cn_wait_map_new(const char *name)
{
	struct cn_wait_map *map = kzalloc(sizeof(*map), GFP_KERNEL);

	if (!map)
		return NULL;
	strscpy(map->name, name, sizeof(map->name));
	lockdep_register_key(&map->key);
	lockdep_init_map(&map->map, map->name, &map->key, 0);
	return map;
}

void cn_wait_map_free(struct cn_wait_map *map)
{
	lockdep_unregister_key(&map->key);
	kfree(map);
}

void cn_wait_map_acquire(struct cn_wait_map *map)
{
	lock_map_acquire(&map->map);
}

void cn_wait_map_release(struct cn_wait_map *map)
{
	lock_map_release(&map->map);
}
