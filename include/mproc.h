/* mproc: Python's threading / queue / multiprocessing toolkit for C processes
 * that share state. The only header users include:  #include <mproc.h>
 * Link with the flags of `pkg-config --libs mproc`. */
#ifndef MPROC_H
#define MPROC_H

#include <mproc/common.h>
#include <mproc/sync.h>
#include <mproc/process.h>
#include <mproc/queue.h>
#include <mproc/shared.h>
#include <mproc/connection.h>
#include <mproc/manager.h>

#endif
