/* A priority queue hands back the lowest priority first: puts of 20, 78, 12
 * and 45 come back as 12, 20, 45, 78. Prints "got 12" ... "got 78". */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    mproc_queue_opts_t opts = { .order = MPROC_PRIORITY };
    mproc_queue_t *q;
    if (mproc_queue_create(&q, NULL, &opts) != 0)
        return 1;
    static const int values[] = { 20, 78, 12, 45 };
    for (int i = 0; i < 4; i++) {
        char text[16];
        int n = snprintf(text, sizeof text, "%d", values[i]);
        mproc_queue_put_prio(q, text, (size_t)n, values[i], 0);
    }
    int expect[] = { 12, 20, 45, 78 }, ok = 1;
    for (int i = 0; i < 4; i++) {
        char text[16];
        size_t len;
        if (mproc_queue_get(q, text, sizeof text - 1, &len, 0) != 0)
            return 1;
        text[len] = 0;
        printf("got %s\n", text);
        ok &= atoi(text) == expect[i];
    }
    mproc_queue_close(q);
    return ok ? 0 : 1;
}
