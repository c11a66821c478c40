/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the harness needs of kernel/livepatch/shadow.c's static variables and functions: the build compiles
 * the tree's shadow.c unmodified with this file included after it, in one translation unit (as the kernel
 * builds each file). No kernel line is edited.
 */

/* does a shadow variable with this id exist, for any object? */
int klpmc_shadow_exists(unsigned long id)
{
	struct klp_shadow *shadow;
	int bkt;

	hash_for_each(klp_shadow_hash, bkt, shadow, node)
		if (shadow->id == id)
			return 1;
	return 0;
}

/*
 * The set of shadow variables as one number: a sum over the variables (so the hash table's order does
 * not count) of a hash of each one's object, id and data. An object klpmc's allocator gave out counts
 * as "some allocated object": where it was allocated is no part of the state (see klpmc_digest).
 */
size_t klpmc_alloc_size(const void *p);

unsigned int klpmc_shadow_set(void)
{
	struct klp_shadow *shadow;
	unsigned int sum = 0;
	int bkt;

	hash_for_each(klp_shadow_hash, bkt, shadow, node) {
		size_t size = klpmc_alloc_size(shadow), head = offsetof(struct klp_shadow, data);
		unsigned long obj = klpmc_alloc_size(shadow->obj) ? 1 : (unsigned long)shadow->obj;
		const unsigned char *d = (const unsigned char *)shadow->data;
		unsigned int h = 2166136261u;

		h = (h ^ (unsigned int)obj ^ (unsigned int)(obj >> 32)) * 16777619u;
		h = (h ^ (unsigned int)shadow->id) * 16777619u;
		for (size_t i = 0; size > head && i < size - head; i++)
			h = (h ^ d[i]) * 16777619u;
		sum += h * 2654435761u;
	}
	return sum;
}

/*
 * Each bucket of klp_shadow_hash in a canonical order (by id, then by object where klpmc's allocator did
 * not give it out), between two calls of the harness: a bucket is only searched, so the order the
 * variables came in is no part of the kernel's state.
 */
void klpmc_sort_shadow_hash(void)
{
	for (size_t b = 0; b < HASH_SIZE(klp_shadow_hash); b++) {
		struct hlist_node *items[64], *pos;
		int n = 0;

		for (pos = klp_shadow_hash[b].first; pos; pos = pos->next) {
			if (n == 64)
				return;
			items[n++] = pos;
		}
		if (n < 2)
			continue;
		for (int i = 1; i < n; i++)
			for (int j = i; j > 0; j--) {
				struct klp_shadow *x = hlist_entry(items[j - 1], struct klp_shadow, node);
				struct klp_shadow *y = hlist_entry(items[j], struct klp_shadow, node);
				unsigned long ox = klpmc_alloc_size(x->obj) ? 0 : (unsigned long)x->obj;
				unsigned long oy = klpmc_alloc_size(y->obj) ? 0 : (unsigned long)y->obj;
				struct hlist_node *t;

				if (x->id < y->id || (x->id == y->id && ox <= oy))
					break;
				t = items[j - 1];
				items[j - 1] = items[j];
				items[j] = t;
			}
		klp_shadow_hash[b].first = NULL;
		for (int i = n - 1; i >= 0; i--)
			hlist_add_head(items[i], &klp_shadow_hash[b]);
	}
}
