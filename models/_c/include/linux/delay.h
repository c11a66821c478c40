/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: a task that sleeps gives the CPU back to the harness until it is resumed. */
#ifndef _KLPMC_LINUX_DELAY_H
#define _KLPMC_LINUX_DELAY_H

void klpmc_msleep(unsigned int msecs);
#define msleep(ms) klpmc_msleep(ms)

#endif
