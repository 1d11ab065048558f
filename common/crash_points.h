/* The crash points: every place between two shared-memory stores that
 * matter, where a process killed with SIGKILL must leave its object usable
 * and lose nothing committed. One line per point: X(id, object, name).
 *
 * The points are compiled in only with ./configure --enable-crash-points;
 * otherwise MPROC__CRASH(id) expands to nothing. tests/test_crash_points.c
 * kills a process at each one and checks the survivors; a point listed here
 * that no test reaches fails that test. Includable on its own (tests use it). */
#ifndef MPROC_CRASH_POINTS_H
#define MPROC_CRASH_POINTS_H

#define MPROC__CRASH_POINTS(X)                                                          \
    /* segment publish (ipc/segment.c) */                                               \
    X(SEGMENT_INITIALISED, "segment", "segment.create.initialised")                     \
    X(SEGMENT_READY, "segment", "segment.create.ready")                                 \
    X(SEGMENT_PUBLISHED, "segment", "segment.create.published")                         \
    /* queue: put */                                                                    \
    X(QUEUE_PUT_LOCKED, "queue", "queue.put.locked")                                    \
    X(QUEUE_PUT_HEAD_RESET, "queue", "queue.put.head_reset")                            \
    X(QUEUE_PUT_PAD, "queue", "queue.put.pad_written")                                  \
    X(QUEUE_PUT_RECORD, "queue", "queue.put.record_written")                            \
    X(QUEUE_PUT_COMMITTED, "queue", "queue.put.committed")                              \
    X(QUEUE_PUT_INDEXED, "queue", "queue.put.indexed")                                  \
    X(QUEUE_PUT_UNLOCKED, "queue", "queue.put.unlocked")                                \
    /* queue: get and get_alloc */                                                      \
    X(QUEUE_GET_LOCKED, "queue", "queue.get.locked")                                    \
    X(QUEUE_GET_COPIED, "queue", "queue.get.copied")                                    \
    X(QUEUE_GET_FREED, "queue", "queue.get.record_freed")                               \
    X(QUEUE_GET_TAIL_BACK, "queue", "queue.get.tail_moved_back")                        \
    X(QUEUE_GET_COMMITTED, "queue", "queue.get.committed")                              \
    X(QUEUE_GET_UNLOCKED, "queue", "queue.get.unlocked")                                \
    X(QUEUE_GET_WOKEN, "queue", "queue.get.woken")                                      \
    X(QUEUE_GET_ALLOCATED, "queue", "queue.get_alloc.allocated")                        \
    /* queue: task_done, shutdown, recovery */                                          \
    X(QUEUE_TASK_DONE_COUNTED, "queue", "queue.task_done.counted")                      \
    X(QUEUE_SHUTDOWN_FLAGGED, "queue", "queue.shutdown.flagged")                        \
    X(QUEUE_SHUTDOWN_PENDING, "queue", "queue.shutdown.pending")                        \
    X(QUEUE_SHUTDOWN_DRAINED, "queue", "queue.shutdown.drained")                        \
    X(QUEUE_SHUTDOWN_CREDITED, "queue", "queue.shutdown.credited")                      \
    X(QUEUE_RECOVER_PUT_SIDE, "queue", "queue.recover.put_side")                        \
    X(QUEUE_RECOVER_GET_SIDE, "queue", "queue.recover.get_side")                        \
    X(QUEUE_RECOVER_REBUILT, "queue", "queue.recover.index_rebuilt")                    \
    X(QUEUE_RECOVER_TAIL, "queue", "queue.recover.tail_published")                      \
    X(QUEUE_WAKE_DISARMED, "queue", "queue.wake.disarmed")                              \
    /* queue: compaction of a LIFO/PRIORITY ring (sync/queue_compact.c) */              \
    X(QUEUE_COMPACT_BEGUN, "queue", "queue.compact.move_begun")                         \
    X(QUEUE_COMPACT_STEP, "queue", "queue.compact.step_copied")                         \
    X(QUEUE_COMPACT_COPIED, "queue", "queue.compact.run_copied")                        \
    X(QUEUE_COMPACT_FIXED, "queue", "queue.compact.tail_fixed")                         \
    X(QUEUE_COMPACT_MOVED, "queue", "queue.compact.run_moved")                          \
    X(QUEUE_COMPACT_DONE, "queue", "queue.compact.done")                                \
    /* barrier */                                                                       \
    X(BARRIER_ARRIVED, "barrier", "barrier.wait.arrived")                               \
    X(BARRIER_ACTION, "barrier", "barrier.wait.in_action")                              \
    X(BARRIER_ROUND_CLEARED, "barrier", "barrier.wait.outcome_cleared")                 \
    X(BARRIER_ADVANCED, "barrier", "barrier.wait.round_advanced")                       \
    X(BARRIER_WAITING, "barrier", "barrier.wait.waiting")                               \
    X(BARRIER_BREAK_MARKED, "barrier", "barrier.break.round_marked")                    \
    X(BARRIER_BROKEN, "barrier", "barrier.break.broken_set")                            \
    X(BARRIER_RESET_MARKED, "barrier", "barrier.reset.round_marked")                    \
    X(BARRIER_RESET_ADVANCED, "barrier", "barrier.reset.round_advanced")                \
    /* condition */                                                                     \
    X(COND_WAIT_WATCHED, "cond", "cond.wait.watched")                                   \
    X(COND_WAIT_TICKET, "cond", "cond.wait.ticket_taken")                               \
    X(COND_WAIT_UNLOCKED, "cond", "cond.wait.unlocked")                                 \
    X(COND_WAIT_WOKEN, "cond", "cond.wait.woken")                                       \
    X(COND_WAIT_TOOK_OVER, "cond", "cond.wait.took_over")                               \
    X(COND_WAIT_RELOCKED, "cond", "cond.wait.relocked")                                 \
    X(COND_WAIT_UNWATCHED, "cond", "cond.wait.unwatched")                               \
    X(COND_WAIT_WITHDRAWN, "cond", "cond.wait.withdrawn")                               \
    X(COND_NOTIFY_MARKED, "cond", "cond.notify.marked")                                 \
    X(COND_NOTIFY_GRANTED, "cond", "cond.notify.granted")                               \
    /* semaphore */                                                                     \
    X(SEM_ACQUIRE_WOKEN, "sem", "sem.acquire.woken")                                    \
    X(SEM_RELEASE_ADDED, "sem", "sem.release.added")                                    \
    /* event */                                                                         \
    X(EVENT_WAIT_WOKEN, "event", "event.wait.woken")                                    \
    X(EVENT_SET_STORED, "event", "event.set.stored")

enum mproc__crash_point {
#define MPROC__CRASH_ENUM(id, object, name) MPROC__CP_##id,
    MPROC__CRASH_POINTS(MPROC__CRASH_ENUM)
#undef MPROC__CRASH_ENUM
    MPROC__CP_COUNT
};

#endif
