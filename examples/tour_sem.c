/* Tour: a BoundedSemaphore of 2 slots; a third acquire times out. */
#include <mproc.h>
#include <stdio.h>

int main(void)
{
    mproc_sem_t *slots;
    mproc_sem_create(&slots, NULL, 2, 2);            /* value 2, bound 2 */
    mproc_sem_acquire(slots, MPROC_FOREVER);
    mproc_sem_acquire(slots, MPROC_FOREVER);
    int third = mproc_sem_acquire(slots, 0.05);      /* MPROC_ETIMEDOUT */
    mproc_sem_release(slots, 2);
    int too_many = mproc_sem_release(slots, 1);      /* MPROC_EOVERFLOW: past the bound */
    printf("third: %s; extra release: %s\n", mproc_strerror(third), mproc_strerror(too_many));
    mproc_sem_close(slots);
    return third == MPROC_ETIMEDOUT && too_many == MPROC_EOVERFLOW ? 0 : 1;
}
