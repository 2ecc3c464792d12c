/*
 * listen.h - opening listening TCP sockets from "host:port" strings.
 */
#ifndef SABA_SERVER_LISTEN_H
#define SABA_SERVER_LISTEN_H

#include "base/err.h"

/* Bind and listen on addr ("127.0.0.1:9650", "[::1]:0", ":9650" = all
 * interfaces). Port 0 picks a free port. Returns the socket, or a negative
 * code with err set. *bound receives the actual "host:port" (>= 64 bytes). */
int listen_tcp(const char *addr, char *bound, int bound_len, struct saba_err *err);

#endif
