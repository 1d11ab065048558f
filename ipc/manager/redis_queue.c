/* Manager queues on Redis / Valkey (docs/redis-layout.md, "Queues"): the
 * reliable-queue pattern. A get moves the front item of the queue's list
 * into a processing list of the handle's own (its consumer id, made at open
 * by queue.c); task_done drops the oldest item of that list; a consumer
 * whose liveness key has expired (its process died, so nothing renews it)
 * is "reaped": its processing list goes back to the front of the queue in
 * one script, by whichever consumer notices first. Every change is one
 * command or one Lua script, so it is atomic on the server; the client
 * never reads, modifies and writes back.
 *
 * Why not Streams with consumer groups: XAUTOCLAIM reclaims by idle time
 * alone, so a live consumer holding an item for long would lose it (the
 * contract says a live consumer keeps its items however long), a reclaimed
 * entry goes to whoever claims it rather than to the front of the queue,
 * join needs a counter besides, and maxsize would count acknowledged
 * entries until they are trimmed. Lists keep FIFO order, a liveness key
 * per consumer says exactly who died, and any Redis client can speak the
 * same few commands. */
#include "config.h"

#ifdef HAVE_HIREDIS

#include "manager/redis.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every round trip ends within this past its own wait (as every call of
 * the Redis backend): a server that stops answering is an error, not a
 * hang. */
#define CALL_BOUND 10.0
/* The keeper's renewal, made holding the handle's lock, ends within this. */
#define KEEP_BOUND MPROC__REDIS_QUEUE_KEEP_BOUND
/* Redis has no blocking push and no blocking "counter reaches 0": a put on
 * a full queue and a join poll, sleeping from POLL_MIN doubling up to
 * POLL_MAX between tries (so room or completion is seen within POLL_MAX). */
#define POLL_MIN 0.001
#define POLL_MAX 0.05

/* The one script, for every operation (ARGV[1]). KEYS: the items list,
 * the meta hash (maxsize, unfinished), the consumer set, this consumer's
 * processing list and liveness key. ARGV: op, the key prefix
 * "mproc:queue:{NAME}:", the consumer id, the liveness TTL in ms, the
 * operation's argument, the number of gets the handle holds unacknowledged
 * on the server ("held") and flags: 'f' the handle renewed its liveness
 * less than half a slice ago, so it has most of its TTL left and need not
 * renew; 'r' a get's reply was lost, so the newest items of the processing
 * list may be ones the caller never saw: they go back to the front of the
 * queue until the list holds "held" items.
 * Other consumers' keys are built from the prefix: they share the hash tag,
 * so they are in the same cluster slot.
 * The reaper leaves the string "reaped" (for a day) in place of a reaped
 * consumer's processing list, so that a BLMOVE or LMOVE of that consumer's
 * that was already on its way fails (WRONGTYPE) rather than put an item
 * into a list nobody would ever reap again. The consumer, finding the
 * marker, deletes it, registers anew and is told MPROC_REAPED (its held
 * items went back to the queue). Lua's false is Redis's nil; an empty
 * string item is a true value in Lua. */
static const char script_text[] =
    "local items, meta, consumers, proc, live = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
    "local op, prefix, id, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local held, flags = tonumber(ARGV[6]) or 0, ARGV[7] or ''\n"
    "local function back(from)\n"
    "  local n = 0\n"
    "  while redis.call('LMOVE', from, items, 'RIGHT', 'LEFT') do n = n + 1 end\n"
    "  return n\n"
    "end\n"
    "local function reap()\n"
    "  for _, c in ipairs(redis.call('SMEMBERS', consumers)) do\n"
    "    if redis.call('EXISTS', prefix .. 'live:' .. c) == 0 then\n"
    "      local p = prefix .. 'proc:' .. c\n"
    "      local t = redis.call('TYPE', p).ok\n"
    "      if t == 'list' then back(p) end\n"
    "      if t == 'list' or t == 'none' then redis.call('SET', p, 'reaped', 'PX', 86400000) end\n"
    "      redis.call('SREM', consumers, c)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if op == 'open' then\n"
    "  local want = { [items] = 'list', [meta] = 'hash', [consumers] = 'set', [proc] = 'list', [live] = 'string' }\n"
    "  for k, t in pairs(want) do\n"
    "    local has = redis.call('TYPE', k).ok\n"
    "    if has ~= 'none' and has ~= t then\n"
    "      return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')\n"
    "    end\n"
    "  end\n"
    "  redis.call('HSETNX', meta, 'maxsize', ARGV[5])\n"
    "  redis.call('HSETNX', meta, 'unfinished', '0')\n"
    "elseif op == 'close' then\n"
    "  if redis.call('TYPE', proc).ok == 'list' then back(proc) end\n"
    "  redis.call('DEL', proc, live)\n"
    "  redis.call('SREM', consumers, id)\n"
    "  return 0\n"
    "elseif redis.call('TYPE', proc).ok == 'string' then\n"
    "  redis.call('DEL', proc)\n"
    "  redis.call('SET', live, '1', 'PX', ttl)\n"
    "  redis.call('SADD', consumers, id)\n"
    "  return redis.error_reply('MPROC_REAPED this consumer was reaped')\n"
    "end\n"
    "if not string.find(flags, 'f', 1, true) then\n"
    "  redis.call('SET', live, '1', 'PX', ttl)\n"
    "  redis.call('SADD', consumers, id)\n"
    "end\n"
    "if string.find(flags, 'r', 1, true) then\n"
    "  while redis.call('LLEN', proc) > held do\n"
    "    redis.call('LMOVE', proc, items, 'RIGHT', 'LEFT')\n"
    "  end\n"
    "end\n"
    "if op == 'open' then\n"
    "  return 0\n"
    "elseif op == 'put' then\n"
    "  local max = tonumber(redis.call('HGET', meta, 'maxsize') or '0')\n"
    "  if max > 0 and redis.call('LLEN', items) >= max then return 0 end\n"
    "  redis.call('RPUSH', items, ARGV[5])\n"
    "  redis.call('HINCRBY', meta, 'unfinished', 1)\n"
    "  return 1\n"
    "elseif op == 'get' then\n"
    "  local v = redis.call('LMOVE', items, proc, 'LEFT', 'RIGHT')\n"
    "  if v or ARGV[5] ~= '1' then return v end\n"
    "  reap()\n"
    "  return redis.call('LMOVE', items, proc, 'LEFT', 'RIGHT')\n"
    "elseif op == 'done' then\n"
    "  if redis.call('LLEN', proc) < held or not redis.call('LPOP', proc) then\n"
    "    return redis.error_reply('MPROC_EOVERFLOW no unacknowledged get')\n"
    "  end\n"
    "  redis.call('HINCRBY', meta, 'unfinished', -1)\n"
    "  return 1\n"
    "elseif op == 'join' then\n"
    "  reap()\n"
    "  return tonumber(redis.call('HGET', meta, 'unfinished') or '0')\n"
    "elseif op == 'qsize' then\n"
    "  reap()\n"
    "  return redis.call('LLEN', items)\n"
    "elseif op == 'keep' then\n"
    "  reap()\n"
    "  return 0\n"
    "end\n"
    "return redis.error_reply('ERR unknown mproc queue operation')\n";

static char script_sha[41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void compute_sha(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(script_text, sizeof script_text - 1, md, &len, EVP_sha1(), NULL);
    for (unsigned j = 0; j < len && j < 20; j++)
        snprintf(&script_sha[2 * j], 3, "%02x", md[j]);
}

enum { K_ITEMS, K_META, K_CONSUMERS, K_PROC, K_LIVE, NKEYS };
#define PREFIX_MAX (sizeof "mproc:queue:{}:" + MPROC__MGR_NAME_MAX)
#define KEY_MAX (PREFIX_MAX + sizeof "consumers" + MPROC__REDIS_CONSUMER_ID_LEN)

/* The keys of one queue and one consumer. */
struct qkeys {
    char prefix[PREFIX_MAX];
    size_t plen;
    char k[NKEYS][KEY_MAX];
    size_t len[NKEYS];
};

static void make_keys(struct qkeys *ks, const mproc__mgr_req_t *q)
{
    memcpy(ks->prefix, "mproc:queue:{", 13);
    memcpy(ks->prefix + 13, q->name, q->nlen);
    memcpy(ks->prefix + 13 + q->nlen, "}:", 2);
    ks->plen = 15 + q->nlen;
    static const char *const suffix[NKEYS] = { "items", "meta", "consumers", "proc:", "live:" };
    for (int i = 0; i < NKEYS; i++) {
        size_t s = strlen(suffix[i]);
        memcpy(ks->k[i], ks->prefix, ks->plen);
        memcpy(ks->k[i] + ks->plen, suffix[i], s);
        ks->len[i] = ks->plen + s;
        if (i == K_PROC || i == K_LIVE) {
            memcpy(ks->k[i] + ks->len[i], q->key, q->klen);
            ks->len[i] += q->klen;
        }
    }
}

/* The script's operation op with argument arg[alen], before deadline:
 * EVALSHA, or EVAL when the server does not have the script yet (a new
 * server, a failover). fresh: the handle renewed its liveness moments ago
 * (the request's num2 & MPROC__REDIS_QUEUE_FRESH_BIT, from queue.c), so
 * the script need not. The handle's held count (q->num) and its resync
 * flag (num2 & MPROC__REDIS_QUEUE_RESYNC_BIT) go along. 0 with *reply
 * (maybe an error reply; MPROC_REAPED: the script found this consumer
 * reaped and registered it anew, res->n says so and the caller runs the
 * operation again), or a negative code. */
static int run_once(mproc__redis_t *r, const struct qkeys *ks, const mproc__mgr_req_t *q, int fresh,
                    const char *op, const void *arg, size_t alen, redisReply **reply, double deadline)
{
    pthread_once(&sha_once, compute_sha);
    char ttl[24], held[24], flags[3];
    size_t ttllen = (size_t)snprintf(ttl, sizeof ttl, "%d", MPROC__REDIS_QUEUE_TTL_MS);
    size_t heldlen = (size_t)snprintf(held, sizeof held, "%lld", (long long)(q->num > 0 ? q->num : 0));
    size_t flen = 0;
    if (fresh)
        flags[flen++] = 'f';
    if (q->num2 & MPROC__REDIS_QUEUE_RESYNC_BIT)
        flags[flen++] = 'r';
    flags[flen] = '\0';
    const char *argv[3 + NKEYS + 7] = { "EVALSHA", script_sha, "5" };
    size_t len[3 + NKEYS + 7] = { 7, 40, 1 };
    for (int i = 0; i < NKEYS; i++) {
        argv[3 + i] = ks->k[i];
        len[3 + i] = ks->len[i];
    }
    int n = 3 + NKEYS;
    argv[n] = op, len[n++] = strlen(op);
    argv[n] = ks->prefix, len[n++] = ks->plen;
    argv[n] = q->key, len[n++] = q->klen;
    argv[n] = ttl, len[n++] = ttllen;
    argv[n] = arg != NULL ? arg : "", len[n++] = alen;
    argv[n] = held, len[n++] = heldlen;
    argv[n] = flags, len[n++] = flen;
    int rc = mproc__redis_run(r, ks->k[K_ITEMS], ks->len[K_ITEMS], n, argv, len, reply, deadline);
    if (rc == 0 && mproc__redis_error_is(*reply, "NOSCRIPT")) {
        freeReplyObject(*reply);
        argv[0] = "EVAL";
        len[0] = 4;
        argv[1] = script_text;
        len[1] = sizeof script_text - 1;
        rc = mproc__redis_run(r, ks->k[K_ITEMS], ks->len[K_ITEMS], n, argv, len, reply, deadline);
    }
    return rc;
}

/* run_once, and when the script says this consumer was reaped (its held
 * items went back to the queue; the script registered it anew) once more
 * with nothing held, telling the handle through res->n. */
static int run_script(mproc__redis_t *r, const struct qkeys *ks, const mproc__mgr_req_t *q,
                      mproc__mgr_res_t *res, int fresh, const char *op, const void *arg, size_t alen,
                      redisReply **reply, double deadline)
{
    int rc = run_once(r, ks, q, fresh, op, arg, alen, reply, deadline);
    if (rc != 0 || !mproc__redis_error_is(*reply, "MPROC_REAPED"))
        return rc;
    freeReplyObject(*reply);
    res->n = 1;
    mproc__mgr_req_t again = *q;
    again.num = 0;
    again.num2 = 0;
    return run_once(r, ks, &again, 0, op, arg, alen, reply, deadline);
}

/* An error reply to its code: the script's own first, then the backend's. */
static int reply_error(const redisReply *rep)
{
    if (mproc__redis_error_is(rep, "MPROC_EOVERFLOW"))
        return MPROC_EOVERFLOW;
    if (strstr(rep->str, "WRONGTYPE") != NULL)
        return MPROC_ETYPE; /* raised inside the script: the text may come prefixed */
    return mproc__redis_error_code(rep);
}

/* One script call whose reply is an integer into *out. */
static int script_integer(mproc__redis_t *r, const struct qkeys *ks, const mproc__mgr_req_t *q,
                          mproc__mgr_res_t *res, int fresh, const char *op, const void *arg, size_t alen,
                          long long *out, double bound)
{
    redisReply *rep;
    int rc = run_script(r, ks, q, res, fresh, op, arg, alen, &rep, mproc__monotonic() + bound);
    if (rc != 0)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = reply_error(rep);
    else if (rep->type != REDIS_REPLY_INTEGER)
        rc = MPROC_EPROTO;
    else if (out != NULL)
        *out = rep->integer;
    freeReplyObject(rep);
    return rc;
}

/* The time left before the caller's deadline (< 0: none), at least 0. */
static double left(double timeout, double deadline)
{
    if (timeout < 0)
        return 1e9;
    double l = deadline - mproc__monotonic();
    return l > 0 ? l : 0;
}

static void pause_for(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* put on a full queue and join: the script's answer until done(answer),
 * polling with a growing pause until the caller's deadline. 1 when done,
 * 0 when the time ran out, or a negative code. */
static int poll_until(mproc__redis_t *r, const struct qkeys *ks, const mproc__mgr_req_t *q, mproc__mgr_res_t *res,
                      const char *op, const void *arg, size_t alen, long long want)
{
    double deadline = mproc__monotonic() + (q->timeout > 0 ? q->timeout : 0);
    double pause = POLL_MIN;
    mproc__mgr_req_t later = *q; /* after the first try: resynchronised, renewing */
    later.num2 = 0;
    for (const mproc__mgr_req_t *now = q;; now = &later) {
        long long got;
        int rc = script_integer(r, ks, now, res, now->num2 & MPROC__REDIS_QUEUE_FRESH_BIT, op, arg, alen, &got,
                                CALL_BOUND);
        if (rc != 0)
            return rc;
        if (got == want)
            return 1;
        double l = left(q->timeout, deadline);
        if (q->timeout == 0 || l <= 0)
            return 0;
        pause_for(pause < l ? pause : l);
        pause = pause * 2 < POLL_MAX ? pause * 2 : POLL_MAX;
    }
}

/* get: the front item, or (timeout permitting) the first to come. A try
 * with the script (which renews this consumer and, finding the queue empty,
 * reaps the dead ones), then BLMOVE in slices of at most
 * MPROC__REDIS_QUEUE_SLICE, each preceded by such a try: the liveness key
 * never lapses while the handle waits, and an item a dead consumer held
 * reaches a consumer already blocked without anyone else's call. */
static int queue_get(mproc__redis_t *r, const struct qkeys *ks, const mproc__mgr_req_t *q, mproc__mgr_res_t *res)
{
    double deadline = mproc__monotonic() + (q->timeout > 0 ? q->timeout : 0);
    redisReply *rep;
    if (q->num2 == MPROC__REDIS_QUEUE_FRESH_BIT) {
        /* renewed moments ago: a plain LMOVE (the common case of a busy
         * queue, as cheap as a raw RPOP); the script when it finds nothing */
        const char *argv[] = { "LMOVE", ks->k[K_ITEMS], ks->k[K_PROC], "LEFT", "RIGHT" };
        size_t len[] = { 5, ks->len[K_ITEMS], ks->len[K_PROC], 4, 5 };
        int rc = mproc__redis_run(r, ks->k[K_ITEMS], ks->len[K_ITEMS], 5, argv, len, &rep,
                                  mproc__monotonic() + CALL_BOUND);
        if (rc != 0)
            return rc;
        /* WRONGTYPE: the processing list is the reaper's marker (this
         * consumer was reaped): nothing moved; the script sorts it out */
        if (rep->type != REDIS_REPLY_NIL && !mproc__redis_error_is(rep, "WRONGTYPE")) {
            rc = rep->type == REDIS_REPLY_ERROR ? reply_error(rep) : mproc__redis_take_string(rep, res->val, res->vlen);
            freeReplyObject(rep);
            return rc;
        }
        freeReplyObject(rep);
    }
    mproc__mgr_req_t later = *q; /* after the first try: resynchronised */
    later.num2 = 0;
    for (const mproc__mgr_req_t *now = q;; now = &later) {
        int rc = run_script(r, ks, now, res, 0, "get", "1", 1, &rep, mproc__monotonic() + CALL_BOUND);
        double l = left(q->timeout, deadline);
        if (rc == 0 && rep->type == REDIS_REPLY_NIL && q->timeout != 0 && l > 0) {
            freeReplyObject(rep);
            double slice = l < MPROC__REDIS_QUEUE_SLICE ? l : MPROC__REDIS_QUEUE_SLICE;
            /* seconds with a decimal point built from whole milliseconds:
             * "%f" would follow the locale (a decimal comma is a syntax
             * error to Redis) */
            long long ms = (long long)(slice * 1000);
            char text[32];
            size_t tlen = (size_t)snprintf(text, sizeof text, "%lld.%03lld", (ms > 0 ? ms : 1) / 1000,
                                           (ms > 0 ? ms : 1) % 1000);
            const char *argv[] = { "BLMOVE", ks->k[K_ITEMS], ks->k[K_PROC], "LEFT", "RIGHT", text };
            size_t len[] = { 6, ks->len[K_ITEMS], ks->len[K_PROC], 4, 5, tlen };
            rc = mproc__redis_run(r, ks->k[K_ITEMS], ks->len[K_ITEMS], 6, argv, len, &rep,
                                  mproc__monotonic() + slice + CALL_BOUND);
            if (rc == 0 && (rep->type == REDIS_REPLY_NIL || mproc__redis_error_is(rep, "WRONGTYPE"))) {
                /* the slice ended: renew, reap, try again; WRONGTYPE: this
                 * consumer was reaped meanwhile (nothing moved), the script
                 * registers it anew */
                freeReplyObject(rep);
                continue;
            }
        }
        if (rc != 0)
            return rc;
        if (rep->type == REDIS_REPLY_NIL)
            rc = MPROC_EEMPTY;
        else if (rep->type == REDIS_REPLY_ERROR)
            rc = reply_error(rep);
        else
            rc = mproc__redis_take_string(rep, res->val, res->vlen);
        freeReplyObject(rep);
        return rc;
    }
}

int mproc__redis_queue_call(mproc__redis_t *r, const mproc__mgr_req_t *q, mproc__mgr_res_t *res)
{
    if (q->key == NULL || q->klen != MPROC__REDIS_CONSUMER_ID_LEN || q->nlen == 0 ||
        q->nlen > MPROC__MGR_NAME_MAX)
        return MPROC_EINVAL;
    struct qkeys ks;
    make_keys(&ks, q);
    char num[24];
    int rc;
    switch (q->op) {
    case MPROC__OP_QUEUE_OPEN:
        /* a cluster runs a script on one slot: a name whose braces defeat
         * the hash tag (one starting with '}') cannot be a queue there */
        for (int i = 1; r->cluster && i < NKEYS; i++)
            if (mproc__redis_slot(ks.k[i], ks.len[i]) != mproc__redis_slot(ks.k[0], ks.len[0]))
                return MPROC_EINVAL;
        rc = snprintf(num, sizeof num, "%llu", (unsigned long long)q->num);
        return script_integer(r, &ks, q, res, 0, "open", num, (size_t)rc, NULL, CALL_BOUND);
    case MPROC__OP_QUEUE_PUT:
        rc = poll_until(r, &ks, q, res, "put", q->val, q->vlen, 1);
        return rc < 0 ? rc : rc == 1 ? 0 : MPROC_EFULL;
    case MPROC__OP_QUEUE_GET:
        return queue_get(r, &ks, q, res);
    case MPROC__OP_QUEUE_TASK_DONE:
        return script_integer(r, &ks, q, res, q->num2 & MPROC__REDIS_QUEUE_FRESH_BIT, "done", NULL, 0, NULL,
                              CALL_BOUND);
    case MPROC__OP_QUEUE_JOIN:
        rc = poll_until(r, &ks, q, res, "join", NULL, 0, 0);
        return rc < 0 ? rc : rc == 1 ? 0 : MPROC_ETIMEDOUT;
    case MPROC__OP_QUEUE_QSIZE: {
        long long n = 0;
        rc = script_integer(r, &ks, q, res, q->num2 & MPROC__REDIS_QUEUE_FRESH_BIT, "qsize", NULL, 0, &n,
                            CALL_BOUND);
        if (rc == 0 && n < 0)
            rc = MPROC_EPROTO; /* a length below 0 is a lie */
        if (rc == 0)
            res->num = n;
        return rc;
    }
    case MPROC__OP_QUEUE_KEEPALIVE:
        /* the keeper holds the handle's lock meanwhile: a short bound, so
         * that a call waiting for the lock on a hung server is not held up
         * by more than KEEP_BOUND */
        return script_integer(r, &ks, q, res, 0, "keep", NULL, 0, NULL, KEEP_BOUND);
    case MPROC__OP_QUEUE_RELEASE:
        return script_integer(r, &ks, q, res, 0, "close", NULL, 0, NULL, CALL_BOUND);
    default:
        return MPROC_EINVAL;
    }
}

#endif
