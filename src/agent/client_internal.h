/*
 * client_internal.h - what the transport implementations behind client.h
 * share: the common part of struct client and an ops table per
 * implementation. Not for the agent's other files: they use client.h.
 */
#ifndef SABA_AGENT_CLIENT_INTERNAL_H
#define SABA_AGENT_CLIENT_INTERNAL_H

#include "agent/client.h"

struct client_ops {
    const char *name; /* "curl", "evhttp" */
    /* as client_request; c->impl is the implementation's state */
    long (*request)(struct client *c, const char *method, const char *path, const void *body,
                    size_t n, bool gzip, struct buf *resp, char *why, size_t why_len);
    void (*free_impl)(void *impl);
};

struct client {
    const struct client_ops *ops; /* NULL until an implementation took c */
    void *impl;
    char *base;    /* the base URL without trailing '/' */
    char *api_key; /* NULL when none */
    long timeout_ms;
};

/* A client with the common fields filled in and no implementation yet. */
struct client *client_alloc(const char *base_url, const char *api_key, long timeout_ms);
/* "saba-agent/<version>" into out. */
void client_user_agent(char *out, size_t n);
/* True if url starts with scheme followed by "://" (case-insensitive). */
bool client_url_is(const char *url, const char *scheme);

struct curl_api;
/* Serve c with libcurl called through api (linked or loaded: see curl_api.h).
 * Returns 0, or -1 with the reason in why. */
int client_curl_init(struct client *c, const struct curl_api *api, char *why, size_t why_len);
/* Serve c (an http:// URL) with libevent's evhttp client (lean binary only).
 * Returns 0, or -1 with the reason in why. */
int client_evhttp_init(struct client *c, char *why, size_t why_len);

#endif
