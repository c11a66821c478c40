/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the harness needs of kernel/livepatch/patch.c's static variables and functions: the build compiles
 * the tree's patch.c unmodified with this file included after it, in one translation unit (as the kernel
 * builds each file). No kernel line is edited.
 */

struct list_head *klpmc_klp_ops(void)
{
	return &klp_ops;
}

/*
 * klp_ops in a canonical order, between two calls of the harness: the list is a set to the core (it is
 * only searched, by klp_find_ops()), but the order entries came in would make two equal kernels two
 * states. The harness sorts it by the traced address; nothing walks it while it does.
 */
void klpmc_sort_klp_ops(void)
{
	struct list_head *items[64], *pos;
	int n = 0;

	list_for_each(pos, &klp_ops) {
		if (n == 64)
			return;
		items[n++] = pos;
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0; j--) {
			struct klp_ops *a = list_entry(items[j - 1], struct klp_ops, node);
			struct klp_ops *b = list_entry(items[j], struct klp_ops, node);
			struct list_head *t;

			if (a->fops.filter_ip <= b->fops.filter_ip)
				break;
			t = items[j - 1];
			items[j - 1] = items[j];
			items[j] = t;
		}
	INIT_LIST_HEAD(&klp_ops);
	for (int i = 0; i < n; i++)
		list_add_tail(items[i], &klp_ops);
}
