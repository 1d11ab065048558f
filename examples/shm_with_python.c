/* A C program and a Python script share one block: C creates it and writes a
 * greeting, examples/shm_with_python.py (run with python3) opens it by name
 * with multiprocessing.shared_memory, reads the greeting and writes a reply,
 * and C prints the reply. Prints "python says: hello from python 3.x".
 * Without python3 it says so and exits 0. */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        printf("python3 not found: skipped\n");
        return 0;
    }
    mproc_shm_t *block;
    int r = mproc_shm_create(&block, NULL, 4096); /* a fresh name, like Python's */
    if (r != 0) {
        fprintf(stderr, "shm: %s\n", mproc_strerror(r));
        return 1;
    }
    strcpy(mproc_shm_buf(block), "hello from C");

    /* the script sits next to this program's source */
    const char *dir = getenv("MPROC_EXAMPLES_DIR");
    char command[1024];
    snprintf(command, sizeof command, "python3 %s/shm_with_python.py %s", dir ? dir : "examples",
             mproc_shm_name(block));
    r = system(command);

    const char *reply = (const char *)mproc_shm_buf(block) + 1024;
    printf("python says: %s\n", reply);
    int ok = r == 0 && strncmp(reply, "hello from python", 17) == 0;
    mproc_unlink(mproc_shm_name(block)); /* the name goes; the mapping stays until close */
    mproc_shm_close(block);
    return ok ? 0 : 1;
}
