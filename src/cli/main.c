/* qforge: the command-line program. A table of subcommands, one file each. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "qf/log.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const cli_command commands[] = {
	{"run", cmd_run, "run xtb on the molecules of a file and print the results"},
	{"engine", cmd_engine, NULL}, /* hidden: the xtb engine child (include/qf/engine.h) */
	{"embed", cmd_embed, NULL},   /* hidden: the SMILES embedding child (include/qf/embed.h) */
	{"db", cmd_db, "migrate the store's schema, purge rows past retention"},
	{"reindex", cmd_reindex, "record job directories (metadata.json) in the store"},
	{"worker", cmd_worker, "claim calculations from the store and run them"},
	{"batch", cmd_batch, "submit, follow and manage batches of calculations"},
	{"slurm", cmd_slurm, "run workers as a Slurm job array: submit, status, cancel"},
	{"props", cmd_props, "print or recompute molecular descriptors (RDKit)"},
	{"query", cmd_query, "select calculations with a filter (mw<300,gap>3,...)"},
	{"export", cmd_export, "export calculations as CSV, JSONL, extxyz, SDF, HDF5, QCSchema"},
	{"serve", cmd_serve, "serve the HTTP API and the web app, with workers"},
	{"user", cmd_user, "add and list accounts (the first administrator, closed registration)"},
	{"version", cmd_version, "print the qforge version"},
	{"help", cmd_help, "show this help"},
};

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("qforge %s\n", QF_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: qforge <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].summary) /* internal commands have none */
			printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	printf("\n'qforge <command> --help' describes a command's options.\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return QF_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(name, "--version"))
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "qforge: unknown command '%s'; 'qforge help' lists them\n", name);
	return QF_EXIT_USAGE;
}
