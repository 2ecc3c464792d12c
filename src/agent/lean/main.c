/*
 * main.c - `saba-agent`: the agent alone, for the hosts a saba server
 * monitors. `saba-agent ARGS` does what `saba agent ARGS` does (the same
 * code, src/agent/), in a binary linked with only the agent's libraries and
 * libevent's HTTP client instead of libcurl (see agent/client.h), so that
 * its resident memory is the agent's, not the server's libraries'.
 */
#include "agent/agent.h"

#include <stdio.h>
#include <string.h>

#ifndef SABA_VERSION
#define SABA_VERSION "dev"
#endif

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("saba-agent %s\n", SABA_VERSION);
        return 0;
    }
    return agent_main(argc, argv);
}
