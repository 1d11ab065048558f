/* A parallel word count: a Manager holds one shared dict; forked workers each
 * count a slice of a text into it with mproc_dict_incr (atomic on the
 * server, unlike Python's d[w] += 1); the parent prints the top words and
 * checks every count against one made alone. Prints "all 42 counts match a
 * count made alone".
 *
 * With an address it counts in an existing store instead, e.g. in Redis:
 *   ./word_count redis://127.0.0.1:6379 [PASSWORD]
 *   ./word_count redis+unix:///run/redis/redis.sock
 * and any Redis client reads the result: HGETALL "mproc:dict:{words}". */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 4
#define WORDS 12000

static const char *vocabulary[] = {
    "the", "of", "and", "a", "to", "in", "is", "process", "lock", "queue", "shared", "memory",
    "worker", "fork", "pipe", "value", "array", "event", "barrier", "semaphore", "condition",
    "manager", "dict", "list", "python", "c", "kernel", "futex", "signal", "socket", "message",
    "server", "client", "key", "count", "word", "text", "slice", "parent", "child", "kill", "dead",
};
#define VOCABULARY (sizeof vocabulary / sizeof vocabulary[0])

/* The text, word by word: a skewed but fixed choice from the vocabulary. */
static const char *word_at(unsigned i)
{
    unsigned x = i * 2654435761u;
    x ^= x >> 13;
    unsigned r = x % 1000;
    return vocabulary[(r * r / 1000) * VOCABULARY / 1000]; /* small indexes are common */
}

static int count_slice(mproc_dict_t *counts, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        const char *w = word_at(i);
        if (mproc_dict_incr(counts, w, strlen(w), 1, NULL) != 0)
            return 1;
    }
    return 0;
}

static int by_count(const void *a, const void *b)
{
    const mproc_item_t *x = a, *y = b;
    long cx = atol(x->value.data), cy = atol(y->value.data);
    return cx != cy ? (cx < cy) - (cx > cy) : strcmp(x->key.data, y->key.data);
}

int main(int argc, char **argv)
{
    mproc_manager_t *manager;
    int r;
    if (argc > 1) /* a store that is already there: Redis, or a running `mproc manager` */
        r = mproc_manager_connect(&manager, argv[1], argc > 2 ? argv[2] : NULL, argc > 2 ? strlen(argv[2]) : 0);
    else
        r = mproc_manager_start(&manager, NULL, NULL, 0); /* a private socket, a random key */
    if (r != 0) {
        fprintf(stderr, "manager: %s\n", mproc_strerror(r));
        return 1;
    }
    mproc_dict_t *counts;
    r = mproc_manager_dict(manager, "words", &counts);
    if (r == 0)
        r = mproc_dict_clear(counts); /* a store that is already there may hold an older count */
    if (r != 0) {
        fprintf(stderr, "dict: %s\n", mproc_strerror(r));
        return 1;
    }

    pid_t pids[WORKERS];
    for (unsigned w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) /* the handle works in the child: it gets its own connection */
            _exit(count_slice(counts, w * WORDS / WORKERS, (w + 1) * WORDS / WORKERS));
    }
    int ok = 1;
    for (unsigned w = 0; w < WORKERS; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }

    mproc_item_t *items;
    size_t n;
    if (!ok || mproc_dict_items(counts, &items, &n) != 0) {
        fprintf(stderr, "counting failed\n");
        return 1;
    }
    qsort(items, n, sizeof *items, by_count);
    printf("top words of %d, counted by %d workers:\n", WORDS, WORKERS);
    for (size_t i = 0; i < 5 && i < n; i++)
        printf("  %-10s %s\n", (char *)items[i].key.data, (char *)items[i].value.data);

    /* the same count, alone */
    long alone[VOCABULARY] = { 0 };
    for (unsigned i = 0; i < WORDS; i++)
        for (size_t v = 0; v < VOCABULARY; v++)
            if (word_at(i) == vocabulary[v])
                alone[v]++;
    size_t matching = 0, used = 0;
    for (size_t v = 0; v < VOCABULARY; v++) {
        used += alone[v] > 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(items[i].key.data, vocabulary[v]) == 0 && atol(items[i].value.data) == alone[v])
                matching++;
    }
    mproc_items_free(items, n);
    mproc_dict_close(counts);
    if (argc > 1)
        mproc_manager_close(manager); /* the store runs on, with the counts */
    else
        mproc_manager_shutdown(manager);
    if (matching != used || n != used) {
        printf("%zu of %zu counts match a count made alone\n", matching, used);
        return 1;
    }
    printf("all %zu counts match a count made alone\n", matching);
    return 0;
}
