/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: the RCU list operations are the plain ones (linux/list.h). */
#include <linux/list.h>
