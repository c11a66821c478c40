/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: forwards to kernel.h (WARN, BUG). */
#include <linux/kernel.h>
