/*
 * cli.h - `saba analyze`: the analysis engine on exported CSV data.
 *
 *   saba analyze changepoint [--order K --discount R --smooth T1 --smooth2 T2] [--raw] < in.csv
 *   saba analyze anomaly < in.csv
 *   saba analyze forecast [--window 7d] [--json] < in.csv
 *
 * The offline face of src/analysis/ (used by the test suites and by operators
 * on data exported from any tool); see README.md for the contracts.
 */
#ifndef SABA_ANALYSIS_CLI_H
#define SABA_ANALYSIS_CLI_H

/* argv[0] is "analyze". Returns the process exit status: 0, 1 on bad input
 * (the message, naming the line, on stderr), 2 on bad usage. */
int analyze_main(int argc, char **argv);

#endif
