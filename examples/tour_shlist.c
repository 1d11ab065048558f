/* Tour: a ShareableList (Python's layout), guarded by an mproc Lock beside it. */
#include <mproc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_sl_item_t items[] = {{.type = MPROC_SL_INT, .i = 0},
                               {.type = MPROC_SL_STR, .data = "nobody", .len = 6}};
    mproc_shlist_t *list;
    mproc_lock_t *lock;
    char lock_name[64];
    mproc_shlist_create(&list, NULL, items, 2);            /* a fresh name like "psm_1a2b3c4d" */
    snprintf(lock_name, sizeof lock_name, "%s.lock", mproc_shlist_name(list));
    mproc_lock_create(&lock, lock_name);                   /* the Lock beside it, named after it */
    for (int w = 0; w < 4; w++)
        if (fork() == 0) {
            for (int k = 0; k < 1000; k++) {
                mproc_sl_item_t hits;
                mproc_lock_acquire(lock, MPROC_FOREVER);   /* get + set as one step */
                mproc_shlist_get(list, 0, &hits);
                hits.i++;
                mproc_shlist_set(list, 0, &hits);
                mproc_shlist_set(list, 1, &(mproc_sl_item_t){.type = MPROC_SL_STR,
                                                             .data = "worker", .len = 6});
                mproc_lock_release(lock);
            }
            _exit(0);
        }
    while (wait(NULL) > 0)
        ;
    mproc_sl_item_t hits, last;
    mproc_shlist_get(list, 0, &hits);
    mproc_shlist_get(list, -1, &last);                     /* str and bytes come malloc'd */
    printf("hits: %lld, last: %s\n", (long long)hits.i, (char *)last.data);
    free(last.data);
    mproc_unlink(lock_name);
    mproc_unlink(mproc_shlist_name(list));                 /* lists live until unlinked */
    mproc_lock_close(lock);
    mproc_shlist_close(list);
    return hits.i == 4000 ? 0 : 1;
}
