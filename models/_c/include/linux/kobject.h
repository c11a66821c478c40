/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klpmc stub: kobjects with reference counts and release callbacks, each holding a reference on its
 * parent, a name unique among its siblings (-EEXIST), and a registry that stands for the sysfs tree:
 * the harness finds /sys/kernel/livepatch/<patch>/enabled there and calls the attribute's store().
 * The registry is the harness's (a kobject in it is one with state_in_sysfs), outside the kobjects.
 */
#ifndef _KLPMC_LINUX_KOBJECT_H
#define _KLPMC_LINUX_KOBJECT_H

#include <linux/list.h>
#include <linux/kernel.h>

struct kobject;

struct attribute {
	const char *name;
	umode_t mode;
};

struct attribute_group {
	const char *name;
	struct attribute **attrs;
};

struct sysfs_ops {
	int unused;
};

struct kobj_type {
	void (*release)(struct kobject *kobj);
	const struct sysfs_ops *sysfs_ops;
	const struct attribute_group **default_groups;
};

struct kobject {
	const char *name;
	struct kobject *parent;
	const struct kobj_type *ktype;
	int refcount;
	bool state_initialized;
	bool state_in_sysfs;
};

struct kobj_attribute {
	struct attribute attr;
	ssize_t (*show)(struct kobject *kobj, struct kobj_attribute *attr, char *buf);
	ssize_t (*store)(struct kobject *kobj, struct kobj_attribute *attr, const char *buf, size_t count);
};

extern const struct sysfs_ops kobj_sysfs_ops;
extern struct kobject *kernel_kobj;

#define __ATTR(_name, _mode, _show, _store) { .attr = { .name = #_name, .mode = (_mode) }, \
	.show = (_show), .store = (_store) }
#define __ATTR_RO(_name) __ATTR(_name, 0444, _name##_show, NULL)
#define __ATTR_WO(_name) __ATTR(_name, 0200, NULL, _name##_store)
#define __ATTR_RW(_name) __ATTR(_name, 0644, _name##_show, _name##_store)
#define ATTRIBUTE_GROUPS(_name) \
	static const struct attribute_group _name##_group = { .attrs = _name##_attrs }; \
	static const struct attribute_group *_name##_groups[] = { &_name##_group, NULL }

void kobject_init(struct kobject *kobj, const struct kobj_type *ktype);
__attribute__((format(printf, 3, 4)))
int kobject_add(struct kobject *kobj, struct kobject *parent, const char *fmt, ...);
struct kobject *kobject_get(struct kobject *kobj);
void kobject_put(struct kobject *kobj);
struct kobject *kobject_create_and_add(const char *name, struct kobject *parent);

/* an attribute file beside a kobject's default ones: nothing the harness reads or writes */
static inline int sysfs_create_file(struct kobject *kobj, const struct attribute *attr)
{
	return 0;
}

#endif
