/* SPDX-License-Identifier: GPL-2.0-only */
/* klpmc stub: a seq_file writes into a buffer the harness reads (the /proc files of the fake vmlinux). */
#ifndef _KLPMC_LINUX_SEQ_FILE_H
#define _KLPMC_LINUX_SEQ_FILE_H

#include <linux/kernel.h>

struct seq_file {
	char buf[256];
	size_t len;
};

#define seq_printf(m, fmt, ...) \
	((m)->len += snprintf((m)->buf + (m)->len, sizeof((m)->buf) - (m)->len, fmt, ##__VA_ARGS__))

#endif
