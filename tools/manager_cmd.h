/* The `mproc manager` subcommand (tools/manager_cmd.c). */
#ifndef MPROC_TOOL_MANAGER_CMD_H
#define MPROC_TOOL_MANAGER_CMD_H

#include "internal.h"

/* argv: the arguments after "manager". The exit status. */
int mproc_tool_manager(int argc, char **argv);

#endif
