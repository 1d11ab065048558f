/* Redis Cluster routing for the Redis backend: which node holds a key's
 * slot. hiredis 0.14 has none, so this is ours, and small: the slot of a
 * key (CRC16 of its hash tag, as the cluster specification says), the slot
 * map from CLUSTER SLOTS, and the node named by a MOVED or ASK reply. What
 * to do with them is in backend_redis.c's run(). */
#include "config.h"

#ifdef HAVE_HIREDIS

#include "manager/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0, as the spec's crc16.c. */
static unsigned crc16(const unsigned char *p, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
        crc &= 0xffff;
    }
    return crc;
}

unsigned mproc__redis_slot(const void *key, size_t len)
{
    const unsigned char *k = key;
    const unsigned char *open = memchr(k, '{', len);
    if (open != NULL) {
        size_t from = (size_t)(open - k) + 1;
        const unsigned char *close = memchr(k + from, '}', len - from);
        if (close != NULL && close > k + from) /* "{}" is no tag: the whole key counts */
            return crc16(k + from, (size_t)(close - (k + from))) & (MPROC__REDIS_SLOTS - 1);
    }
    return crc16(k, len) & (MPROC__REDIS_SLOTS - 1);
}

static int is(const redisReply *rep, int type)
{
    return rep != NULL && rep->type == type;
}

/* Fills slots from a CLUSTER SLOTS reply asked of node `asked`: each entry
 * is [start, end, [host, port, ...] (the master), replicas...]. */
static int parse_slots(mproc__redis_t *r, const redisReply *rep, int asked, uint16_t *slots)
{
    if (!is(rep, REDIS_REPLY_ARRAY))
        return MPROC_EPROTO;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (!is(e, REDIS_REPLY_ARRAY) || e->elements < 3 || !is(e->element[0], REDIS_REPLY_INTEGER) ||
            !is(e->element[1], REDIS_REPLY_INTEGER) || !is(e->element[2], REDIS_REPLY_ARRAY) ||
            e->element[2]->elements < 2)
            return MPROC_EPROTO;
        long long start = e->element[0]->integer, end = e->element[1]->integer;
        const redisReply *host = e->element[2]->element[0], *port = e->element[2]->element[1];
        if (start < 0 || end < start || end >= MPROC__REDIS_SLOTS || !is(host, REDIS_REPLY_STRING) ||
            !is(port, REDIS_REPLY_INTEGER) || port->integer <= 0 || port->integer > 65535)
            return MPROC_EPROTO;
        char port_text[8];
        snprintf(port_text, sizeof port_text, "%lld", port->integer);
        /* an empty host (or "?") means: where you asked */
        const char *h = host->str;
        size_t hlen = host->len;
        if ((hlen == 0 || (hlen == 1 && h[0] == '?')) && r->nodes[asked].host != NULL) {
            h = r->nodes[asked].host;
            hlen = strlen(h);
        }
        int idx = mproc__redis_node(r, h, hlen, port_text);
        if (idx < 0)
            return idx;
        for (long long s = start; s <= end; s++)
            slots[s] = (uint16_t)(idx + 1);
    }
    return 0;
}

/* Asks node i for the slot map, before deadline: 1 (map filled), 0 (a
 * standalone server), or a negative code. The node is suspect after a
 * failed connection, and no longer once it answers. */
static int ask_slots(mproc__redis_t *r, int i, double deadline)
{
    static const char *const argv[] = { "CLUSTER", "SLOTS" };
    static const size_t len[] = { 7, 5 };
    mproc__wbuf_reset(&r->out);
    mproc__redis_append(r, 2, argv, len);
    redisReply *rep;
    int sent;
    int rc = mproc__redis_exec(r, &r->nodes[i], 1, &rep, deadline, &sent);
    if (rc != 0) {
        if (rc != MPROC_ENOMEM)
            r->nodes[i].suspect = 1;
        return rc;
    }
    r->nodes[i].suspect = 0;
    if (is(rep, REDIS_REPLY_ERROR)) {
        int auth = strncmp(rep->str, "NOAUTH", 6) == 0 || strncmp(rep->str, "WRONGPASS", 9) == 0;
        freeReplyObject(rep);
        if (auth)
            return MPROC_EAUTH;
        /* "cluster support disabled": a standalone server; a cluster node
         * that can not answer now (LOADING...) is no map */
        return r->cluster ? MPROC_EAGAIN : 0;
    }
    uint16_t *slots = calloc(MPROC__REDIS_SLOTS, sizeof *slots);
    rc = slots == NULL ? MPROC_ENOMEM : parse_slots(r, rep, i, slots);
    freeReplyObject(rep);
    if (rc != 0) {
        free(slots);
        return rc;
    }
    free(r->slots);
    r->slots = slots;
    return 1;
}

int mproc__redis_cluster_refresh(mproc__redis_t *r, int first, double deadline)
{
    int rc = MPROC_ENOENT;
    /* pass 0: `first`; pass 1: the nodes not suspect, from r->ask_next on;
     * pass 2: the suspect ones (they may have come back) */
    for (int pass = first >= 0 ? 0 : 1; pass < 3; pass++) {
        size_t count = pass == 0 ? 1 : r->nnodes; /* nodes may be added: parse_slots returns then */
        size_t from = r->ask_next;
        for (size_t k = 0; k < count; k++) {
            int i = pass == 0 ? first : (int)((from + k) % r->nnodes);
            if (pass > 0 && (i == first || r->nodes[i].suspect != (pass == 2)))
                continue;
            double now = mproc__monotonic();
            if (now >= deadline)
                return rc == MPROC_ENOENT ? MPROC_ETIMEDOUT : rc;
            double until = now + MPROC__REDIS_ASK_TIMEOUT < deadline ? now + MPROC__REDIS_ASK_TIMEOUT : deadline;
            if (pass > 0)
                r->ask_next = ((size_t)i + 1) % r->nnodes; /* the next refresh asks another */
            rc = ask_slots(r, i, r->cluster ? until : deadline);
            if (rc >= 0 || !r->cluster)
                return rc; /* at connect, the only node there is says what it is */
            if (rc == MPROC_ENOMEM)
                return rc;
        }
    }
    return rc;
}

int mproc__redis_redirect(mproc__redis_t *r, const char *text, size_t len, unsigned *slot)
{
    /* "MOVED 3999 127.0.0.1:6381", "ASK 3999 [::1]:6381" or "ASK 3999 ::1:6381" */
    const char *sp = memchr(text, ' ', len);
    if (sp == NULL)
        return MPROC_EPROTO;
    char *end;
    unsigned long s = strtoul(sp + 1, &end, 10);
    if (end == sp + 1 || *end != ' ' || s >= MPROC__REDIS_SLOTS)
        return MPROC_EPROTO;
    const char *host = end + 1;
    const char *colon = strrchr(host, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return MPROC_EPROTO;
    size_t hlen = (size_t)(colon - host);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (hlen == 0 && r->nodes[0].host != NULL) {
        host = r->nodes[0].host;
        hlen = strlen(host);
    }
    *slot = (unsigned)s;
    return mproc__redis_node(r, host, hlen, colon + 1);
}

#endif
