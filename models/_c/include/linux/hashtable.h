/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: fixed-size hash tables. A table keeps 16 buckets whatever size the code asks for, so a
 * snapshot of the kernel's memory stays small (klp_shadow_hash asks for 4096); only the order in which
 * hash_for_each walks the entries can differ from a kernel's.
 */
#ifndef _KLPMC_LINUX_HASHTABLE_H
#define _KLPMC_LINUX_HASHTABLE_H

#include <linux/list.h>

#define KLPMC_HASH_BITS 4
#define DEFINE_HASHTABLE(name, bits) struct hlist_head name[1 << KLPMC_HASH_BITS] = { }
#define DECLARE_HASHTABLE(name, bits) struct hlist_head name[1 << KLPMC_HASH_BITS]
#define HASH_SIZE(name) (ARRAY_SIZE(name))

static inline unsigned int klpmc_hash(unsigned long key)
{
	return (unsigned int)((key * 0x61C8864680B583EBull) >> (64 - KLPMC_HASH_BITS));
}

#define hash_add(table, node, key) hlist_add_head(node, &(table)[klpmc_hash(key)])
#define hash_add_rcu(table, node, key) hlist_add_head_rcu(node, &(table)[klpmc_hash(key)])
#define hash_del(node) hlist_del(node)
#define hash_del_rcu(node) hlist_del_rcu(node)
#define hash_for_each_possible(table, obj, member, key) \
	hlist_for_each_entry(obj, &(table)[klpmc_hash(key)], member)
#define hash_for_each_possible_rcu(table, obj, member, key, ...) \
	hlist_for_each_entry_rcu(obj, &(table)[klpmc_hash(key)], member)
#define hash_for_each(table, bkt, obj, member) \
	for ((bkt) = 0, obj = NULL; obj == NULL && (bkt) < (int)HASH_SIZE(table); (bkt)++) \
		hlist_for_each_entry(obj, &(table)[bkt], member)

#endif
