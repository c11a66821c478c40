/*
 * klpmc-guest: the few things the qemu guest of `klpmc confirm` needs that busybox does differently.
 *
 *   klpmc-guest insmod FILE [PARAM=VALUE...]   one finit_module() call, as kmod's insmod makes; on
 *                                              failure one line in kmod's words on stderr, exit 1
 *                                              (busybox insmod retries with init_module(), which runs
 *                                              a failing module init a second time)
 *   klpmc-guest rmmod NAME                     one delete_module(O_NONBLOCK) call, kmod's words on failure
 *   klpmc-guest kmsg END                       copy each /dev/kmsg record as "SEQ;TEXT" to stdout until a
 *                                              record containing END; a lost record prints "SEQ;@@lost N"
 *
 * Written for klpmc; built static at run time by klpmc.realkernel.guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *insmod_text(int err)
{
	switch (err) {
	case ENOEXEC:
		return "Invalid module format";
	case ENOENT:
		return "Unknown symbol in module, or unknown parameter (see dmesg)";
	case EINVAL:
		return "Invalid parameters";
	default:
		return strerror(err);
	}
}

static int do_insmod(int argc, char **argv)
{
	size_t len = 1;
	char *params;
	int fd, i;

	if (argc < 1) {
		fprintf(stderr, "insmod: ERROR: missing filename.\n");
		return 1;
	}
	for (i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	params = calloc(1, len);
	if (!params)
		return 1;
	for (i = 1; i < argc; i++) {
		if (i > 1)
			strcat(params, " ");
		strcat(params, argv[i]);
	}
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "insmod: ERROR: could not load module %s: No such file or directory\n", argv[0]);
		return 1;
	}
	if (syscall(SYS_finit_module, fd, params, 0) != 0) {
		fprintf(stderr, "insmod: ERROR: could not insert module %s: %s\n", argv[0], insmod_text(errno));
		return 1;
	}
	return 0;
}

static int do_rmmod(int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "rmmod: ERROR: one module name expected\n");
		return 1;
	}
	if (syscall(SYS_delete_module, argv[0], O_NONBLOCK) != 0) {
		if (errno == EWOULDBLOCK || errno == EBUSY)
			fprintf(stderr, "rmmod: ERROR: Module %s is in use\n", argv[0]);
		else if (errno == ENOENT)
			fprintf(stderr, "rmmod: ERROR: Module %s is not currently loaded\n", argv[0]);
		else
			fprintf(stderr, "rmmod: ERROR: could not remove module %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	return 0;
}

static int do_kmsg(int argc, char **argv)
{
	static char rec[8192 + 1];
	unsigned long long seq, last = 0;
	int fd, seen = 0;

	if (argc != 1)
		return 1;
	fd = open("/dev/kmsg", O_RDONLY);
	if (fd < 0)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *text, *nl;

		if (n < 0) {
			if (errno == EPIPE) {   /* overwritten before we read it: say so, go on */
				printf("0;@@lost\n");
				continue;
			}
			if (errno == EINTR)
				continue;
			return 1;
		}
		rec[n] = '\0';
		/* "PRI,SEQ,TS,FLAGS[,...];TEXT\n" then " KEY=VALUE\n" dictionary lines */
		seq = strtoull(strchr(rec, ',') ? strchr(rec, ',') + 1 : rec, NULL, 10);
		text = strchr(rec, ';');
		if (!text)
			continue;
		text++;
		nl = strchr(text, '\n');
		if (nl)
			*nl = '\0';
		if (seen && seq != last + 1)
			printf("%llu;@@lost %llu\n", seq, seq - last - 1);
		seen = 1;
		last = seq;
		printf("%llu;%s\n", seq, text);
		if (strstr(text, argv[0]))
			return 0;
	}
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "insmod"))
		return do_insmod(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "rmmod"))
		return do_rmmod(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "kmsg"))
		return do_kmsg(argc - 2, argv + 2);
	fprintf(stderr, "usage: klpmc-guest insmod FILE [PARAM=VALUE...] | rmmod NAME | kmsg END\n");
	return 2;
}
