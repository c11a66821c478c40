/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: nothing the harness needs from this header. */
#include <linux/types.h>
