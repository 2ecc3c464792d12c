/*
 * cli.h - client and tool verbs of `saba` (one file each, dispatched from
 * the command table in main.c). Each takes the verb's argv (argv[0] is the
 * verb) and returns the process exit status.
 */
#ifndef SABA_CLI_CLI_H
#define SABA_CLI_CLI_H

/* saba import: backfill files into a data directory or a running server. */
int import_main(int argc, char **argv);
/* saba tsdb inspect: report a data directory's blocks and cardinalities. */
int tsdb_main(int argc, char **argv);

#endif
