/* The Manager's store, driven directly: every request is all-or-nothing
 * when any allocation it makes fails (an injected failure at each
 * allocation in turn), and max_memory refuses a change that would pass it
 * with MPROC_ENOMEM and nothing changed. */
#include "helpers.h"

#include "manager/server/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building requests ---- */

static mproc__wbuf_t req;

static void begin(unsigned op, const char *name)
{
    mproc__wbuf_reset(&req);
    mproc__put_u8(&req, MPROC__MGR_VERSION);
    mproc__put_u8(&req, op);
    mproc__put_u16(&req, (unsigned)strlen(name));
    mproc__put_raw(&req, name, strlen(name));
}

static void bytes(const char *text)
{
    mproc__put_bytes(&req, text, strlen(text));
}

/* Runs the request built; the reply's status. */
static int run(mproc__store_t *s, mproc__wbuf_t *out)
{
    int shutdown = 0;
    int r = mproc__store_execute(s, req.data, req.len, out, &shutdown);
    if (r == MPROC_ENOMEM)
        return r; /* no room even for the status (nothing changed either) */
    ck_assert_int_eq(r, 0);
    ck_assert_uint_ge(out->len, 5);
    return (int32_t)((uint32_t)out->data[1] << 24 | (uint32_t)out->data[2] << 16 |
                     (uint32_t)out->data[3] << 8 | out->data[4]);
}

static void image(mproc__store_t *s, mproc__wbuf_t *w)
{
    ck_assert_int_eq(mproc__store_save(s, w), 0);
}

/* A store holding a dict "d" (a=1, b=22, n=5) and a list "l" (x, yy, zzz). */
static mproc__store_t *sample(void)
{
    mproc__store_t *s = mproc__store_new();
    ck_assert_ptr_nonnull(s);
    mproc__wbuf_t out = { 0 };
    const char *kv[][2] = { { "a", "1" }, { "b", "22" }, { "n", "5" } };
    for (int i = 0; i < 3; i++) {
        begin(MPROC__OP_DICT_SET, "d");
        bytes(kv[i][0]);
        bytes(kv[i][1]);
        ck_assert_int_eq(run(s, &out), 0);
    }
    const char *items[] = { "x", "yy", "zzz" };
    for (int i = 0; i < 3; i++) {
        begin(MPROC__OP_LIST_APPEND, "l");
        bytes(items[i]);
        ck_assert_int_eq(run(s, &out), 0);
    }
    mproc__wbuf_free(&out);
    return s;
}

/* The request built (by build()) against a fresh sample store, with the
 * k-th allocation failing, for every k until one run needs no failure: each
 * run either succeeds with the data a failure-free run gives, or fails with
 * MPROC_ENOMEM and the store exactly as before. The number of runs that
 * failed (at least one, or the request allocated nothing). */
static int every_failure(void (*build)(void))
{
    mproc__store_t *ref = sample();
    mproc__wbuf_t before = { 0 }, expected = { 0 }, after = { 0 }, out = { 0 }, ref_out = { 0 };
    image(ref, &before);
    build();
    int expected_status = run(ref, &ref_out);
    ck_assert_int_eq(expected_status, 0);
    image(ref, &expected);
    size_t expected_used = mproc__store_used(ref);
    int failures = 0;
    for (long k = 0;; k++) {
        mproc__store_t *s = sample();
        size_t used_before = mproc__store_used(s);
        build();
        mproc__mgr_fail_in = k;
        int status = run(s, &out);
        int injected = mproc__mgr_fail_in < 0; /* the countdown ran out: a failure happened */
        mproc__mgr_fail_in = -1;
        image(s, &after);
        if (status == 0) {
            ck_assert_uint_eq(after.len, expected.len);
            ck_assert_mem_eq(after.data, expected.data, after.len);
            ck_assert_uint_eq(mproc__store_used(s), expected_used);
            ck_assert_uint_eq(out.len, ref_out.len);
            ck_assert_mem_eq(out.data, ref_out.data, out.len);
        } else {
            ck_assert_int_eq(status, MPROC_ENOMEM);
            ck_assert(injected);
            failures++;
            ck_assert_uint_eq(after.len, before.len); /* nothing changed */
            ck_assert_mem_eq(after.data, before.data, after.len);
            ck_assert_uint_eq(mproc__store_used(s), used_before);
        }
        mproc__store_free(s);
        if (!injected)
            break;
        ck_assert_int_lt(k, 1000);
    }
    mproc__store_free(ref);
    mproc__wbuf_free(&before);
    mproc__wbuf_free(&expected);
    mproc__wbuf_free(&after);
    mproc__wbuf_free(&out);
    mproc__wbuf_free(&ref_out);
    return failures;
}

static void build_update(void)
{
    /* replaces, adds, adds the same key twice: enough allocations to grow
     * the table part-way through */
    begin(MPROC__OP_DICT_UPDATE, "d");
    mproc__put_u32(&req, 12);
    const char *kv[][2] = { { "a", "one" }, { "c", "3" },  { "e", "5" },  { "c", "33" },
                            { "f", "6" },   { "g", "7" },  { "h", "8" },  { "i", "9" },
                            { "j", "10" },  { "k", "11" }, { "b", "2" },  { "m", "13" } };
    for (int i = 0; i < 12; i++) {
        bytes(kv[i][0]);
        bytes(kv[i][1]);
    }
}

static void build_update_new_dict(void)
{
    begin(MPROC__OP_DICT_UPDATE, "fresh");
    mproc__put_u32(&req, 2);
    bytes("p");
    bytes("q");
    bytes("r");
    bytes("s");
}

static void build_extend(void)
{
    begin(MPROC__OP_LIST_EXTEND, "l");
    mproc__put_u32(&req, 9);
    const char *v[] = { "1", "2", "3", "4", "5", "6", "7", "8", "9" };
    for (int i = 0; i < 9; i++)
        bytes(v[i]);
}

static void build_dict_pop(void)
{
    begin(MPROC__OP_DICT_POP, "d");
    bytes("b");
}

static void build_list_pop(void)
{
    begin(MPROC__OP_LIST_POP, "l");
    mproc__put_u64(&req, (uint64_t)-2);
}

static void build_setdefault(void)
{
    begin(MPROC__OP_DICT_SETDEFAULT, "d");
    bytes("new");
    bytes("value");
}

static void build_incr(void)
{
    begin(MPROC__OP_DICT_INCR, "d");
    bytes("n");
    mproc__put_u64(&req, 1000);
}

static void build_set(void)
{
    begin(MPROC__OP_DICT_SET, "other");
    bytes("k");
    bytes("v");
}

static void build_insert(void)
{
    begin(MPROC__OP_LIST_INSERT, "l");
    mproc__put_u64(&req, 1);
    bytes("inserted");
}

START_TEST(update_is_all_or_nothing)
{
    ck_assert_int_gt(every_failure(build_update), 2);
    ck_assert_int_gt(every_failure(build_update_new_dict), 0);
}
END_TEST

START_TEST(extend_is_all_or_nothing)
{
    ck_assert_int_gt(every_failure(build_extend), 2);
}
END_TEST

START_TEST(pop_is_all_or_nothing)
{
    /* the reply's room is the only allocation: the value must survive it */
    mproc__wbuf_free(&req);
    ck_assert_int_ge(every_failure(build_dict_pop), 0);
    ck_assert_int_ge(every_failure(build_list_pop), 0);
}
END_TEST

START_TEST(other_changes_are_all_or_nothing)
{
    ck_assert_int_gt(every_failure(build_setdefault), 0);
    ck_assert_int_gt(every_failure(build_incr), 0);
    ck_assert_int_gt(every_failure(build_set), 0);
    ck_assert_int_gt(every_failure(build_insert), 0);
}
END_TEST

/* A pop whose reply cannot be made (a fresh reply buffer, whose growth is
 * the allocation that fails) keeps the value. */
START_TEST(pop_keeps_the_value_when_the_reply_fails)
{
    mproc__store_t *s = sample();
    mproc__wbuf_t out = { 0 }, before = { 0 }, after = { 0 };
    image(s, &before);
    build_dict_pop();
    /* room for the status only, so the value's room is a new allocation */
    out.data = malloc(5);
    out.cap = 5;
    mproc__mgr_fail_in = 0;
    int status = run(s, &out);
    mproc__mgr_fail_in = -1;
    ck_assert_int_eq(status, MPROC_ENOMEM);
    image(s, &after);
    ck_assert_uint_eq(after.len, before.len);
    ck_assert_mem_eq(after.data, before.data, after.len);
    mproc__store_free(s);
    mproc__wbuf_free(&out);
    mproc__wbuf_free(&before);
    mproc__wbuf_free(&after);
}
END_TEST

START_TEST(quota_refuses_and_changes_nothing)
{
    mproc__store_t *s = sample();
    size_t used = mproc__store_used(s);
    /* d: 1+ a1 b22 n5 = 1 + 2+3+2; l: 1 + 1+2+3 */
    ck_assert_uint_eq(used, 1 + 2 + 3 + 2 + 1 + 1 + 2 + 3);
    mproc__store_set_limit(s, used + 4);
    mproc__wbuf_t out = { 0 }, before = { 0 }, after = { 0 };
    image(s, &before);
    /* each would pass the limit by one byte or more */
    begin(MPROC__OP_DICT_SET, "d");
    bytes("key");
    bytes("vv");
    ck_assert_int_eq(run(s, &out), MPROC_ENOMEM);
    begin(MPROC__OP_LIST_APPEND, "l");
    bytes("12345");
    ck_assert_int_eq(run(s, &out), MPROC_ENOMEM);
    begin(MPROC__OP_DICT_UPDATE, "d");
    mproc__put_u32(&req, 2);
    bytes("q");
    bytes("1");
    bytes("r");
    bytes("1"); /* 4 bytes: fits; the next pair does not */
    ck_assert_int_eq(run(s, &out), 0);
    mproc__store_set_limit(s, mproc__store_used(s));
    image(s, &before);
    begin(MPROC__OP_LIST_EXTEND, "l");
    mproc__put_u32(&req, 2);
    bytes("");
    bytes("1");
    ck_assert_int_eq(run(s, &out), MPROC_ENOMEM);
    begin(MPROC__OP_DICT_INCR, "d");
    bytes("n");
    mproc__put_u64(&req, 10); /* "5" -> "15": one byte more */
    ck_assert_int_eq(run(s, &out), MPROC_ENOMEM);
    begin(MPROC__OP_DICT_SET, "newname"); /* a new object's name counts */
    bytes("");
    bytes("");
    ck_assert_int_eq(run(s, &out), MPROC_ENOMEM);
    image(s, &after);
    ck_assert_uint_eq(after.len, before.len);
    ck_assert_mem_eq(after.data, before.data, after.len);
    /* shrinking or same-size changes still work at the limit */
    begin(MPROC__OP_DICT_SET, "d");
    bytes("b");
    bytes("xy");
    ck_assert_int_eq(run(s, &out), 0);
    begin(MPROC__OP_DICT_POP, "d");
    bytes("b");
    ck_assert_int_eq(run(s, &out), 0);
    begin(MPROC__OP_LIST_APPEND, "l");
    bytes("ab"); /* the key and value freed: room for 3 */
    ck_assert_int_eq(run(s, &out), 0);
    mproc__store_free(s);
    mproc__wbuf_free(&out);
    mproc__wbuf_free(&before);
    mproc__wbuf_free(&after);
}
END_TEST

/* A failed request on a new name does not leave the name behind. */
START_TEST(failed_request_leaves_no_new_object)
{
    mproc__store_t *s = sample();
    mproc__wbuf_t out = { 0 }, before = { 0 }, after = { 0 };
    image(s, &before);
    begin(MPROC__OP_LIST_POP, "nolist");
    mproc__put_u64(&req, 0);
    ck_assert_int_eq(run(s, &out), MPROC_EINDEX);
    ck_assert_int_eq(mproc__store_changed(s), 0);
    image(s, &after);
    ck_assert_mem_eq(after.data, before.data, after.len);
    begin(MPROC__OP_LIST_OPEN, "made");
    ck_assert_int_eq(run(s, &out), 0);
    ck_assert_int_eq(mproc__store_changed(s), 1);
    begin(MPROC__OP_LIST_LEN, "made");
    ck_assert_int_eq(run(s, &out), 0);
    ck_assert_int_eq(mproc__store_changed(s), 0);
    mproc__store_free(s);
    mproc__wbuf_free(&out);
    mproc__wbuf_free(&before);
    mproc__wbuf_free(&after);
}
END_TEST

/* A dict emptied after growing, then used for new keys set and deleted in
 * turn: the holes must not fill the (shrunk) index (it hung here once). */
START_TEST(emptied_dict_takes_new_keys)
{
    mproc__store_t *s = mproc__store_new();
    mproc__wbuf_t out = { 0 };
    char key[16];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        begin(MPROC__OP_DICT_SET, "d");
        bytes(key);
        bytes("v");
        ck_assert_int_eq(run(s, &out), 0);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        begin(MPROC__OP_DICT_DEL, "d");
        bytes(key);
        ck_assert_int_eq(run(s, &out), 0);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "n%d", i);
        begin(MPROC__OP_DICT_SET, "d");
        bytes(key);
        bytes("v");
        ck_assert_int_eq(run(s, &out), 0);
        begin(MPROC__OP_DICT_DEL, "d");
        bytes(key);
        ck_assert_int_eq(run(s, &out), 0);
        /* names made and removed by failing requests leave holes too */
        begin(MPROC__OP_DICT_DEL, key);
        bytes("x");
        ck_assert_int_eq(run(s, &out), MPROC_EKEY);
    }
    mproc__store_free(s);
    mproc__wbuf_free(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("manager_store");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, update_is_all_or_nothing);
    tcase_add_test(tc, extend_is_all_or_nothing);
    tcase_add_test(tc, pop_is_all_or_nothing);
    tcase_add_test(tc, other_changes_are_all_or_nothing);
    tcase_add_test(tc, pop_keeps_the_value_when_the_reply_fails);
    tcase_add_test(tc, quota_refuses_and_changes_nothing);
    tcase_add_test(tc, failed_request_leaves_no_new_object);
    tcase_add_test(tc, emptied_dict_takes_new_keys);
    suite_add_tcase(s, tc);
    int r = run_suite(s);
    mproc__wbuf_free(&req);
    return r;
}
