/* Connection addresses: "/path/with/slash", "@abstract", "host:port",
 * "[v6]:port"; parsing, resolving and the text of a bound socket. */
#include "connection/conn_internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_unix(const char *text, mproc__address_t *a)
{
    size_t n = strlen(text);
    a->is_unix = 1;
    a->un.sun_family = AF_UNIX;
    if (text[0] == '@') {
        /* abstract: a NUL, then the name (no terminator; the length says it) */
        if (n < 2 || n > sizeof a->un.sun_path)
            return MPROC_EINVAL;
        a->abstract = 1;
        a->un.sun_path[0] = '\0';
        memcpy(a->un.sun_path + 1, text + 1, n - 1);
        a->un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n >= sizeof a->un.sun_path)
        return MPROC_EINVAL; /* the kernel's limit: 107 bytes and a NUL */
    memcpy(a->un.sun_path, text, n + 1);
    a->un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static int parse_port(const char *text, mproc__address_t *a)
{
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof a->port || strspn(text, "0123456789") != n)
        return MPROC_EINVAL;
    if (strtol(text, NULL, 10) > 65535)
        return MPROC_EINVAL;
    memcpy(a->port, text, n + 1);
    return 0;
}

int mproc__address_parse(const char *text, mproc__address_t *a)
{
    memset(a, 0, sizeof *a);
    if (text == NULL || text[0] == '\0')
        return MPROC_EINVAL;
    if (text[0] == '@' || strchr(text, '/') != NULL)
        return parse_unix(text, a);
    const char *host = text, *colon;
    size_t host_len;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return MPROC_EINVAL;
        host = text + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
        if (host_len == 0)
            return MPROC_EINVAL;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return MPROC_EINVAL; /* neither a path nor host:port */
        host_len = (size_t)(colon - text);
        if (memchr(text, ':', host_len) != NULL)
            return MPROC_EINVAL; /* an IPv6 address needs its brackets */
    }
    if (host_len >= sizeof a->host)
        return MPROC_EINVAL;
    memcpy(a->host, host, host_len);
    a->host[host_len] = '\0';
    return parse_port(colon + 1, a);
}

int mproc__address_resolve(const mproc__address_t *a, int passive, struct addrinfo **res)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
    };
    const char *host = a->host;
    if (host[0] == '\0') {
        if (!passive)
            return MPROC_EINVAL;
        host = NULL;
        hints.ai_family = AF_INET; /* ":port" listens on every IPv4 address */
    }
    int r = getaddrinfo(host, a->port, &hints, res);
    if (r == 0)
        return 0;
    if (r == EAI_MEMORY)
        return MPROC_ENOMEM;
    if (r == EAI_SYSTEM)
        return mproc__errno(errno);
    return MPROC_ENOENT;
}

char *mproc__address_of_socket(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return NULL;
    char text[INET6_ADDRSTRLEN + 16];
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(text, sizeof text, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        char host[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(text, sizeof text, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        char *out = malloc(n + 2);
        if (out == NULL)
            return NULL;
        if (n > 0 && un->sun_path[0] == '\0') {
            out[0] = '@';
            memcpy(out + 1, un->sun_path + 1, n - 1);
            out[n] = '\0';
        } else {
            memcpy(out, un->sun_path, n);
            out[n] = '\0';
        }
        return out;
    } else {
        return NULL;
    }
    return strdup(text);
}
