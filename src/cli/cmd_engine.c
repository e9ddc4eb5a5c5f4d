/*
 * qforge engine --fd N      (hidden: not listed by `qforge help`)
 *
 * The child side of the in-process xTB executor (include/qf/engine.h): a
 * process that qf_engine_start() starts with fork+exec of qforge itself,
 * handing it one end of a socketpair as descriptor N. It answers singlepoint
 * requests through libxtb until the other end closes. Not meant to be run by
 * hand. Exit status 0 when the parent closed the connection, 13 (system)
 * when the conversation broke, 2 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "qf/engine.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge engine --fd N\n"
	"\n"
	"Internal: the xtb engine child that qforge workers start themselves. It\n"
	"answers calculation requests on the connected socket N until it closes.\n";

int cmd_engine(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "--fd"))
		return cli_usage_error("engine", "expected exactly '--fd N'");
	long fd;
	if (!qf_parse_int(argv[2], 3, INT_MAX, &fd))
		return cli_usage_error("engine", "--fd needs a descriptor number of 3 or more, not '%s'",
		                       argv[2]);
	int type = 0;
	socklen_t len = sizeof(type);
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
		return cli_usage_error("engine", "descriptor %ld is not a socket: %s", fd, strerror(errno));
	if (type != SOCK_STREAM)
		return cli_usage_error("engine", "descriptor %ld is not a stream socket", fd);
	/* Nothing the engine might start inherits the connection. */
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);

	qf_err err;
	qf_err_init(&err);
	if (qf_engine_serve((int)fd, &err))
		return cli_fail(&err);
	return 0;
}
