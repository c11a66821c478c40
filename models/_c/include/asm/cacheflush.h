/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: no instruction cache to flush. */
