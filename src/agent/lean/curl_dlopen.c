/*
 * curl_dlopen.c - libcurl for the lean `saba-agent`, loaded with dlopen the
 * first time an https:// server is configured (see curl_api.h). A host that
 * talks plain http:// never maps libcurl and its ~30 libraries (OpenSSL,
 * GnuTLS, Kerberos, ...), which are most of a libcurl-linked process's RSS.
 */
#include "agent/curl_api.h"

#include <dlfcn.h>
#include <stdio.h>

/* Debian's libcurl4 (OpenSSL) and libcurl3-gnutls; the same API and ABI. */
static const char *const sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};

static int load(void *lib, struct curl_api *api, char *why, size_t why_len)
{
    static const char *const names[] = {
        "curl_global_init",  "curl_easy_init",      "curl_easy_cleanup", "curl_easy_reset",
        "curl_easy_setopt",  "curl_easy_perform",   "curl_easy_getinfo", "curl_easy_strerror",
        "curl_slist_append", "curl_slist_free_all",
    };
    /* dlsym returns void *; POSIX guarantees it converts to a function pointer */
    void *f[sizeof names / sizeof names[0]];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        f[i] = dlsym(lib, names[i]);
        if (!f[i]) {
            snprintf(why, why_len, "libcurl has no %s", names[i]);
            return -1;
        }
    }
    *(void **)&api->global_init = f[0];
    *(void **)&api->easy_init = f[1];
    *(void **)&api->easy_cleanup = f[2];
    *(void **)&api->easy_reset = f[3];
    *(void **)&api->easy_setopt = f[4];
    *(void **)&api->easy_perform = f[5];
    *(void **)&api->easy_getinfo = f[6];
    *(void **)&api->easy_strerror = f[7];
    *(void **)&api->slist_append = f[8];
    *(void **)&api->slist_free_all = f[9];
    return 0;
}

const struct curl_api *curl_api_dlopen(char *why, size_t why_len)
{
    static struct curl_api api;
    static int loaded;
    if (loaded)
        return &api;
    const char *err = "not found";
    for (size_t i = 0; i < sizeof sonames / sizeof sonames[0]; i++) {
        void *lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            err = dlerror();
            continue;
        }
        if (load(lib, &api, why, why_len) != 0) {
            dlclose(lib);
            return NULL;
        }
        loaded = 1; /* lib stays loaded for the process's life */
        return &api;
    }
    snprintf(why, why_len, "https:// needs libcurl (Debian: libcurl4): %s", err ? err : "");
    return NULL;
}
