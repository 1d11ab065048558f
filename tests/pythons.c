/* Finding the Python interpreters for the interop tests (see pythons.h). */
#include "pythons.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char pythons[MAX_PYTHONS][256];
char versions[MAX_PYTHONS][16];
int npythons;

/* "3.11" for a Python 3.8 or newer, else 0. */
static int python_version(const char *python, char *version, size_t size)
{
    char command[512];
    snprintf(command, sizeof command,
             "'%s' -c 'import sys; sys.version_info >= (3, 8) and print(\"%%d.%%d\" %% sys.version_info[:2])'"
             " 2>/dev/null",
             python);
    FILE *p = popen(command, "r");
    if (p == NULL)
        return 0;
    int ok = fgets(version, (int)size, p) != NULL;
    pclose(p);
    if (!ok)
        return 0;
    version[strcspn(version, "\n")] = '\0';
    return version[0] != '\0';
}

static void add_python(const char *python)
{
    char version[16];
    if (npythons == MAX_PYTHONS || !python_version(python, version, sizeof version))
        return;
    for (int i = 0; i < npythons; i++)
        if (strcmp(versions[i], version) == 0)
            return; /* one interpreter per version */
    snprintf(pythons[npythons], sizeof pythons[0], "%s", python);
    snprintf(versions[npythons], sizeof versions[0], "%s", version);
    npythons++;
}

void find_pythons(void)
{
    const char *listed = getenv("MPROC_PYTHONS");
    if (listed != NULL) {
        char copy[2048];
        snprintf(copy, sizeof copy, "%s", listed);
        for (char *save, *p = strtok_r(copy, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save))
            add_python(p);
        return;
    }
    add_python("python3");
    const char *root = getenv("PYENV_ROOT");
    char pattern[512];
    if (root != NULL)
        snprintf(pattern, sizeof pattern, "%s/versions/3.*/bin/python3", root);
    else
        snprintf(pattern, sizeof pattern, "%s/.pyenv/versions/3.*/bin/python3",
                 getenv("HOME") ? getenv("HOME") : "/root");
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            add_python(g.gl_pathv[i]);
        globfree(&g);
    }
}

