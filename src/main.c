/*
 * main.c - `saba <verb>`: one binary, dispatched from a table.
 */
#include "agent/agent.h"
#include "analysis/cli.h"
#include "cli/cli.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#ifndef SABA_VERSION
#define SABA_VERSION "dev"
#endif

static int cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("saba %s\n", SABA_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
    const char *name;
    const char *usage;
    int (*fn)(int argc, char **argv);
} commands[] = {
    {"server", "run the server: ingestion, storage, query API", server_main},
    {"agent", "run the agent: host metrics, plugins, checks -> server", agent_main},
    {"analyze", "offline analysis of CSV: changepoint, anomaly, forecast", analyze_main},
    {"import", "backfill files (line protocol, Prometheus text, CSV)", import_main},
    {"tsdb", "inspect a data directory: saba tsdb inspect DIR", tsdb_main},
    {"version", "print the version", cmd_version},
    {"help", "show this help", cmd_help},
    {NULL, NULL, NULL},
};

static int cmd_help(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("usage: saba <command> [options]\n\ncommands:\n");
    for (const struct command *c = commands; c->name; c++)
        printf("  %-10s %s\n", c->name, c->usage);
    printf("\nRun 'saba <command> --help' for a command's options.\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h"))
        verb = "help";
    if (!strcmp(verb, "--version"))
        verb = "version";
    for (const struct command *c = commands; c->name; c++)
        if (!strcmp(c->name, verb))
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "saba: unknown command \"%s\" (try 'saba help')\n", verb);
    return 2;
}
