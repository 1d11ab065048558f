/* Barrier: indices per round, timeouts that break it, abort, reset, the
 * action, rounds that overlap, and parties killed while waiting or inside. */
#include "helpers.h"

#include <signal.h>
#include <unistd.h>

#define MAX_ROUNDS 50
#define MAX_PARTIES 8

struct state {
    mproc_barrier_t barrier;
    mproc_sem_t ready;
    int parties;
    int rounds;
    int seen[MAX_ROUNDS][MAX_PARTIES]; /* how often each index was handed out */
    int actions;                        /* action runs */
    int action_result;
    int expect_waiting; /* for waiting_reaches */
};

static struct state *new_state(unsigned parties)
{
    struct state *s = shared_alloc(sizeof *s);
    ck_assert_int_eq(mproc_barrier_init(&s->barrier, parties), 0);
    ck_assert_int_eq(mproc_sem_init(&s->ready, 0, 0), 0);
    s->parties = (int)parties;
    return s;
}

static int count_action(void *arg)
{
    struct state *s = arg;
    __atomic_add_fetch(&s->actions, 1, __ATOMIC_SEQ_CST);
    return s->action_result;
}

/* Runs s->rounds rounds, recording indices; checks the action ran before release. */
static int party(void *arg)
{
    struct state *s = arg;
    for (int round = 0; round < s->rounds; round++) {
        int idx = mproc_barrier_wait_action(&s->barrier, 10, count_action, s);
        if (idx < 0 || idx >= s->parties)
            return 1;
        __atomic_add_fetch(&s->seen[round][idx], 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&s->actions, __ATOMIC_SEQ_CST) < round + 1)
            return 2; /* released before this round's action ran */
    }
    return 0;
}

/* Three parties (this process and two children) complete `rounds` rounds. */
static void full_rounds_work(struct state *s, int rounds)
{
    s->rounds = rounds;
    pid_t a = fork_child(party, s), b = fork_child(party, s);
    ck_assert_int_eq(party(s), 0);
    ck_assert_int_eq(wait_child(a, 10), 0);
    ck_assert_int_eq(wait_child(b, 10), 0);
}

START_TEST(each_index_once_per_round_across_processes)
{
    struct state *s = new_state(4);
    s->rounds = MAX_ROUNDS;
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = fork_child(party, s);
    ck_assert_int_eq(party(s), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wait_child(kids[i], 30), 0);
    for (int round = 0; round < MAX_ROUNDS; round++)
        for (int idx = 0; idx < 4; idx++)
            ck_assert_int_eq(s->seen[round][idx], 1);
    ck_assert_int_eq(s->actions, MAX_ROUNDS);
    ck_assert_int_eq(mproc_barrier_n_waiting(&s->barrier), 0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 0);
}
END_TEST

static int arrive_often(void *arg)
{
    struct state *s = arg;
    for (int i = 0; i < 1000; i++) {
        int idx = mproc_barrier_wait(&s->barrier, 10);
        if (idx < 0 || idx >= s->parties)
            return 1;
        __atomic_add_fetch(&s->seen[0][idx], 1, __ATOMIC_SEQ_CST);
    }
    return 0;
}

START_TEST(parties_arriving_while_a_round_drains_join_the_next)
{
    /* Back-to-back rounds without pause: the first party released often
     * arrives again before the others of its round have woken up. */
    struct state *s = new_state(3);
    pid_t kids[2];
    for (int i = 0; i < 2; i++)
        kids[i] = fork_child(arrive_often, s);
    ck_assert_int_eq(arrive_often(s), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(wait_child(kids[i], 30), 0);
    for (int idx = 0; idx < 3; idx++)
        ck_assert_int_eq(s->seen[0][idx], 1000);
}
END_TEST

START_TEST(parameters_and_queries)
{
    mproc_barrier_t b;
    ck_assert_int_eq(mproc_barrier_init(&b, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_barrier_init(&b, 1), 0);
    ck_assert_int_eq(mproc_barrier_parties(&b), 1);
    ck_assert_int_eq(mproc_barrier_wait(&b, 0), 0); /* one party: never waits */
    ck_assert_int_eq(mproc_barrier_wait(&b, 0), 0);
    ck_assert_int_eq(mproc_barrier_destroy(&b), 0);
}
END_TEST

static int wait_expect(void *arg)
{
    struct state *s = arg;
    mproc_sem_release(&s->ready, 1);
    int r = mproc_barrier_wait(&s->barrier, 10);
    return r == MPROC_EBROKEN ? 0 : 1;
}

static int waiting_reaches(void *arg)
{
    struct state *s = arg;
    return mproc_barrier_n_waiting(&s->barrier) == s->expect_waiting;
}

/* Polls until n parties wait in the barrier. */
static int settle(struct state *s, int n)
{
    s->expect_waiting = n;
    return poll_until(waiting_reaches, s, 5);
}

START_TEST(a_timeout_breaks_the_barrier_for_everyone)
{
    struct state *s = new_state(3);
    pid_t other = fork_child(wait_expect, s);
    ck_assert(settle(s, 1));
    double t0 = now();
    ck_assert_int_eq(mproc_barrier_wait(&s->barrier, 0.1), MPROC_ETIMEDOUT);
    ck_assert_double_ge(now() - t0, 0.095);
    ck_assert_int_eq(wait_child(other, 5), 0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 1);
    ck_assert_int_eq(mproc_barrier_n_waiting(&s->barrier), 0);
    ck_assert_int_eq(mproc_barrier_wait(&s->barrier, 1), MPROC_EBROKEN);
    ck_assert_int_eq(mproc_barrier_reset(&s->barrier), 0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 0);
    full_rounds_work(s, 3);
}
END_TEST

START_TEST(abort_breaks_current_and_future_waits_until_reset)
{
    struct state *s = new_state(3);
    pid_t a = fork_child(wait_expect, s), b = fork_child(wait_expect, s);
    ck_assert(settle(s, 2));
    ck_assert_int_eq(mproc_barrier_abort(&s->barrier), 0);
    ck_assert_int_eq(wait_child(a, 5), 0);
    ck_assert_int_eq(wait_child(b, 5), 0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 1);
    ck_assert_int_eq(mproc_barrier_wait(&s->barrier, MPROC_FOREVER), MPROC_EBROKEN);
    ck_assert_int_eq(mproc_barrier_reset(&s->barrier), 0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 0);
    ck_assert_int_eq(mproc_barrier_n_waiting(&s->barrier), 0);
}
END_TEST

START_TEST(reset_breaks_the_waiting_parties_and_starts_afresh)
{
    struct state *s = new_state(3);
    pid_t a = fork_child(wait_expect, s), b = fork_child(wait_expect, s);
    ck_assert(settle(s, 2));
    ck_assert_int_eq(mproc_barrier_reset(&s->barrier), 0);
    ck_assert_int_eq(wait_child(a, 5), 0);
    ck_assert_int_eq(wait_child(b, 5), 0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 0);
    /* a full round works after the reset */
    full_rounds_work(s, 2);
    for (int idx = 0; idx < 3; idx++)
        ck_assert_int_eq(s->seen[1][idx], 1);
}
END_TEST

static int wait_with_failing_action(void *arg)
{
    struct state *s = arg;
    int r = mproc_barrier_wait_action(&s->barrier, 10, count_action, s);
    return r == MPROC_EBROKEN ? 0 : 1;
}

START_TEST(a_failing_action_breaks_the_barrier_for_all)
{
    struct state *s = new_state(3);
    s->action_result = -1;
    pid_t a = fork_child(wait_with_failing_action, s), b = fork_child(wait_with_failing_action, s);
    ck_assert(settle(s, 2));
    ck_assert_int_eq(mproc_barrier_wait_action(&s->barrier, 5, count_action, s), MPROC_EBROKEN);
    ck_assert_int_eq(wait_child(a, 5), 0);
    ck_assert_int_eq(wait_child(b, 5), 0);
    ck_assert_int_eq(s->actions, 1);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 1);
}
END_TEST


static int wait_long(void *arg)
{
    struct state *s = arg;
    mproc_barrier_wait(&s->barrier, 30);
    return 0;
}

/* Waits without a timeout; exits 0 on MPROC_EBROKEN (the caller bounds the
 * time). */
static int wait_forever_expect_broken(void *arg)
{
    struct state *s = arg;
    return mproc_barrier_wait(&s->barrier, MPROC_FOREVER) == MPROC_EBROKEN ? 0 : 1;
}

START_TEST(a_party_killed_while_waiting_breaks_the_barrier_promptly)
{
    /* The new contract: a dead party breaks the barrier; no round completes
     * with it counted, and the others learn it within a second although
     * they wait without a timeout. */
    struct state *s = new_state(3);
    pid_t doomed = fork_child(wait_long, s);
    ck_assert(settle(s, 1));
    kill_child(doomed);
    double t0 = now();
    pid_t a = fork_child(wait_forever_expect_broken, s);
    pid_t b = fork_child(wait_forever_expect_broken, s);
    ck_assert_int_eq(wait_child(a, 10), 0); /* not a completed round */
    ck_assert_int_eq(wait_child(b, 10), 0);
    ck_assert(now() - t0 < 3.0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 1);
    ck_assert_int_eq(mproc_barrier_reset(&s->barrier), 0);
    full_rounds_work(s, 2);
}
END_TEST

START_TEST(a_party_killed_while_others_sleep_wakes_them)
{
    /* Two parties asleep without a timeout, a third killed while waiting:
     * nobody else comes, yet the sleepers learn of the death. */
    struct state *s = new_state(4);
    pid_t a = fork_child(wait_forever_expect_broken, s);
    pid_t b = fork_child(wait_forever_expect_broken, s);
    ck_assert(settle(s, 2));
    pid_t doomed = fork_child(wait_long, s);
    ck_assert(settle(s, 3));
    double t0 = now();
    kill(doomed, SIGKILL); /* not reaped yet: a zombie counts as dead */
    ck_assert_int_eq(wait_child(a, 10), 0);
    ck_assert_int_eq(wait_child(b, 10), 0);
    ck_assert(now() - t0 < 3.0);
    wait_child(doomed, 5);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 1);
    ck_assert_int_eq(mproc_barrier_reset(&s->barrier), 0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 0);
}
END_TEST

static int stall_forever(void *arg)
{
    struct state *s = arg;
    mproc_sem_release(&s->ready, 1);
    for (;;)
        pause();
    return 0;
}

static int last_with_stalling_action(void *arg)
{
    struct state *s = arg;
    mproc_barrier_wait_action(&s->barrier, 30, stall_forever, s);
    return 0;
}

START_TEST(a_party_killed_inside_its_action_breaks_that_round_only)
{
    /* The others wait without a timeout and nobody else comes: they notice
     * the death themselves, within a second or so. */
    struct state *s = new_state(3);
    pid_t w1 = fork_child(wait_forever_expect_broken, s), w2 = fork_child(wait_forever_expect_broken, s);
    ck_assert(settle(s, 2));
    pid_t last = fork_child(last_with_stalling_action, s);
    ck_assert_int_eq(mproc_sem_acquire(&s->ready, 5), 0); /* the action runs */
    double t0 = now();
    kill_child(last); /* dies holding the barrier's internal lock */
    ck_assert_int_eq(wait_child(w1, 10), 0);
    ck_assert_int_eq(wait_child(w2, 10), 0);
    ck_assert(now() - t0 < 3.0);
    ck_assert_int_eq(mproc_barrier_broken(&s->barrier), 1);
    ck_assert_int_eq(mproc_barrier_reset(&s->barrier), 0);
    full_rounds_work(s, 2);
}
END_TEST

static int named_party(void *arg)
{
    mproc_barrier_t *b;
    if (mproc_barrier_open(&b, arg) != 0)
        return 2;
    int r = mproc_barrier_wait(b, 10);
    mproc_barrier_close(b);
    return r >= 0 ? 0 : 1;
}

START_TEST(named_barrier_between_processes)
{
    const char *name = test_name("barrier");
    mproc_barrier_t *b;
    ck_assert_int_eq(mproc_barrier_create(&b, name, 3), 0);
    ck_assert_int_eq(mproc_barrier_parties(b), 3);
    pid_t x = fork_child(named_party, (void *)name), y = fork_child(named_party, (void *)name);
    int idx = mproc_barrier_wait(b, 10);
    ck_assert(idx >= 0 && idx <= 2);
    ck_assert_int_eq(wait_child(x, 5), 0);
    ck_assert_int_eq(wait_child(y, 5), 0);
    mproc_barrier_close(b);
    mproc_unlink(name);
}
END_TEST

static Suite *barrier_suite(void)
{
    Suite *s = suite_create("barrier");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, each_index_once_per_round_across_processes);
    tcase_add_test(tc, parties_arriving_while_a_round_drains_join_the_next);
    tcase_add_test(tc, parameters_and_queries);
    tcase_add_test(tc, a_timeout_breaks_the_barrier_for_everyone);
    tcase_add_test(tc, abort_breaks_current_and_future_waits_until_reset);
    tcase_add_test(tc, reset_breaks_the_waiting_parties_and_starts_afresh);
    tcase_add_test(tc, a_failing_action_breaks_the_barrier_for_all);
    tcase_add_test(tc, a_party_killed_while_waiting_breaks_the_barrier_promptly);
    tcase_add_test(tc, a_party_killed_while_others_sleep_wakes_them);
    tcase_add_test(tc, a_party_killed_inside_its_action_breaks_that_round_only);
    tcase_add_test(tc, named_barrier_between_processes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(barrier_suite());
}
