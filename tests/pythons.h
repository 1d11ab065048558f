/* The Python interpreters the interop tests run against: every Python 3.8
 * or newer found (python3 on PATH, then each pyenv version), one per
 * version, or exactly those listed in $MPROC_PYTHONS (space-separated). */
#ifndef MPROC_TEST_PYTHONS_H
#define MPROC_TEST_PYTHONS_H

#define MAX_PYTHONS 16

extern char pythons[MAX_PYTHONS][256];  /* the interpreter to exec */
extern char versions[MAX_PYTHONS][16];  /* its version, "3.11" */
extern int npythons;

/* Fills the three above (call once, before the suite is built). */
void find_pythons(void);

#endif
