/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: one thing runs at a time; taking a mutex its holder holds is a self-deadlock, a finding. */
#ifndef _KLPMC_LINUX_MUTEX_H
#define _KLPMC_LINUX_MUTEX_H

#include <linux/kernel.h>

struct mutex {
	int locked;
};

#define DEFINE_MUTEX(name) struct mutex name = { 0 }

static inline void mutex_lock(struct mutex *m)
{
	if (m->locked)
		klpmc_finding("deadlock", "mutex_lock of a mutex already held (%p)", (void *)m);
	m->locked = 1;
}

static inline void mutex_unlock(struct mutex *m)
{
	if (!m->locked)
		klpmc_warn(__FILE__, __LINE__, "mutex_unlock of an unlocked mutex");
	m->locked = 0;
}

static inline int mutex_is_locked(struct mutex *m)
{
	return m->locked;
}

#endif
