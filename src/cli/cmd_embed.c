/*
 * qforge embed --serve [--memory MB]      (hidden: not listed by `qforge help`)
 *
 * The child side of bounded SMILES embedding (include/qf/embed.h): started
 * by qf_embed_many with a connected socket as descriptors 0 and 1, it limits
 * its own address space to MB and answers one SMILES per line until end of
 * input. Not meant to be run by hand (though it can be: it reads SMILES on
 * standard input). Exit status 0 at end of input, 2 for a usage error.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qf/embed.h"
#include "qf/limits.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge embed --serve [--memory MB]\n"
	"\n"
	"Internal: the embedding child that qforge starts for SMILES. It reads one\n"
	"SMILES per line on standard input and writes the 3D structure (or why it\n"
	"could not be made) on standard output, under an address-space limit of MB.\n";

int cmd_embed(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	long mb = QF_EMBED_MEMORY_MB;
	if (argc < 2 || strcmp(argv[1], "--serve"))
		return cli_usage_error("embed", "expected '--serve'");
	if (argc == 4 && !strcmp(argv[2], "--memory")) {
		if (!qf_parse_int(argv[3], 64, 1L << 20, &mb))
			return cli_usage_error("embed", "--memory needs megabytes (64 or more), not '%s'",
			                       argv[3]);
	} else if (argc != 2) {
		return cli_usage_error("embed", "expected '--serve [--memory MB]'");
	}
	return qf_embed_serve(STDIN_FILENO, STDOUT_FILENO, mb);
}
