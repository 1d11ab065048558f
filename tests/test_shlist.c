/* ShareableList: every item type and its corner values, Python's byte
 * layout, set's rules and errors, negative indexes, names, other processes,
 * Python 3.8's layout, and hostile blocks that open must refuse without ever
 * crashing. The "python" case checks interop both ways with every Python
 * 3.8+ on the machine (python3 on PATH, pyenv's versions, or the list in
 * $MPROC_PYTHONS), whose side is tests/shlist_peer.py. */
#include "helpers.h"
#include "pythons.h"

#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ITEM_INT(v) ((mproc_sl_item_t){.type = MPROC_SL_INT, .i = (v)})
#define ITEM_FLOAT(v) ((mproc_sl_item_t){.type = MPROC_SL_FLOAT, .f = (v)})
#define ITEM_BOOL(v) ((mproc_sl_item_t){.type = MPROC_SL_BOOL, .i = (v)})
#define ITEM_NONE ((mproc_sl_item_t){.type = MPROC_SL_NONE})
#define ITEM_STR(s, n) ((mproc_sl_item_t){.type = MPROC_SL_STR, .data = (void *)(s), .len = (n)})
#define ITEM_BYTES(s, n) ((mproc_sl_item_t){.type = MPROC_SL_BYTES, .data = (void *)(s), .len = (n)})

/* Asserts item index of l reads back as want (floats bit for bit). */
static void expect_item(mproc_shlist_t *l, ssize_t index, mproc_sl_item_t want)
{
    mproc_sl_item_t got;
    int r = mproc_shlist_get(l, index, &got);
    ck_assert_msg(r == 0, "get %zd: %s", index, mproc_strerror(r));
    ck_assert_msg(got.type == want.type, "item %zd: type %d, want %d", index, got.type, want.type);
    switch (want.type) {
    case MPROC_SL_INT:
    case MPROC_SL_BOOL:
        ck_assert_msg(got.i == want.i, "item %zd: %lld, want %lld", index, (long long)got.i,
                      (long long)want.i);
        ck_assert_ptr_null(got.data);
        break;
    case MPROC_SL_FLOAT:
        ck_assert_msg(memcmp(&got.f, &want.f, 8) == 0, "item %zd: %g, want %g", index, got.f, want.f);
        break;
    case MPROC_SL_STR:
    case MPROC_SL_BYTES:
        ck_assert_msg(got.len == want.len, "item %zd: %zu bytes, want %zu", index, got.len, want.len);
        ck_assert_ptr_nonnull(got.data);
        ck_assert(memcmp(got.data, want.data, want.len) == 0);
        ck_assert_int_eq(((char *)got.data)[got.len], 0); /* NUL after, not counted */
        free(got.data);
        break;
    default:
        ck_assert_ptr_null(got.data);
        break;
    }
}

/* A raw block holding exactly bytes[0..size), named name. */
static void make_block(const char *name, const void *bytes, size_t size)
{
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_shm_create(&m, name, size), 0);
    memcpy(mproc_shm_buf(m), bytes, size);
    mproc_shm_close(m);
}

/* The bytes of the named block (malloc'd), its size in *size. */
static unsigned char *block_bytes(const char *name, size_t *size)
{
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_shm_open(&m, name), 0);
    *size = mproc_shm_size(m);
    unsigned char *copy = malloc(*size);
    memcpy(copy, mproc_shm_buf(m), *size);
    mproc_shm_close(m);
    return copy;
}

static void put64(unsigned char *p, int64_t v)
{
    memcpy(p, &v, 8);
}

START_TEST(every_type_and_corner_value_reads_back)
{
    static const char utf8[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e";
    double nan_payload;
    uint64_t bits = 0x7ff8dead0000beefull;
    memcpy(&nan_payload, &bits, 8);
    mproc_sl_item_t items[] = {
        ITEM_INT(0), ITEM_INT(-1), ITEM_INT(INT64_MAX), ITEM_INT(INT64_MIN),
        ITEM_FLOAT(0.0), ITEM_FLOAT(-0.0), ITEM_FLOAT(INFINITY), ITEM_FLOAT(-INFINITY),
        ITEM_FLOAT(nan_payload), ITEM_FLOAT(DBL_TRUE_MIN), ITEM_FLOAT(DBL_MAX),
        ITEM_BOOL(1), ITEM_BOOL(0), ITEM_NONE,
        ITEM_STR("", 0), ITEM_STR(utf8, strlen(utf8)), ITEM_STR("abcdefgh", 8), ITEM_STR("a\0b", 3),
        ITEM_BYTES("", 0), ITEM_BYTES("\0\1\0\2", 4), ITEM_BYTES("\xff\xfe", 2),
    };
    size_t n = sizeof items / sizeof items[0];
    const char *name = test_name("sl");
    mproc_shlist_t *l, *o;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, n), 0);
    ck_assert_str_eq(mproc_shlist_name(l), name);
    ck_assert_uint_eq(mproc_shlist_len(l), n);
    char slashed[128];
    snprintf(slashed, sizeof slashed, "/%s", name);
    ck_assert_int_eq(mproc_shlist_open(&o, slashed), 0);
    ck_assert_str_eq(mproc_shlist_name(o), name);
    ck_assert_uint_eq(mproc_shlist_len(o), n);
    for (size_t i = 0; i < n; i++) {
        expect_item(l, (ssize_t)i, items[i]);
        expect_item(o, (ssize_t)i, items[i]);
        expect_item(o, (ssize_t)i - (ssize_t)n, items[i]);
    }
    ck_assert_int_eq(mproc_shlist_close(o), 0);
    ck_assert_int_eq(mproc_shlist_close(l), 0);
    /* closing unlinks nothing */
    ck_assert_int_eq(mproc_shlist_open(&o, name), 0);
    expect_item(o, 2, ITEM_INT(INT64_MAX));
    mproc_shlist_close(o);
    ck_assert_int_eq(mproc_unlink(name), 0);
    ck_assert_int_eq(mproc_shlist_open(&o, name), MPROC_ENOENT);
}
END_TEST

START_TEST(trailing_nuls_read_back_stripped_as_in_python)
{
    mproc_sl_item_t items[] = {ITEM_STR("ab\0\0", 4), ITEM_BYTES("\1\0\0", 3), ITEM_BYTES("\0\0\0", 3),
                               ITEM_STR("\0", 1)};
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 4), 0);
    expect_item(l, 0, ITEM_STR("ab", 2));
    expect_item(l, 1, ITEM_BYTES("\1", 1));
    expect_item(l, 2, ITEM_BYTES("", 0));
    expect_item(l, 3, ITEM_STR("", 0));
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_BYTES("x\0y\0", 4)), 0);
    expect_item(l, 0, ITEM_BYTES("x\0y", 3));
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

/* The exact bytes Python 3.9+ writes for ShareableList([7, "hi", None,
 * True, b"abcdefgh", 2.5]) (as Python itself produces them: the interop test
 * compares whole blocks with Python's). */
START_TEST(layout_is_pythons_byte_for_byte)
{
    mproc_sl_item_t items[] = {ITEM_INT(7), ITEM_STR("hi", 2), ITEM_NONE, ITEM_BOOL(1),
                               ITEM_BYTES("abcdefgh", 8), ITEM_FLOAT(2.5)};
    unsigned char want[8 + 7 * 8 + 56 + 6 * 8 + 6] = {0};
    unsigned char *p = want;
    put64(p, 6);
    static const int64_t offsets[] = {0, 8, 16, 24, 32, 48, 56};
    for (int i = 0; i < 7; i++)
        put64(p + 8 + 8 * i, offsets[i]);
    unsigned char *data = p + 64;
    put64(data, 7);
    memcpy(data + 8, "hi", 2);
    data[24 + 7] = 1;
    memcpy(data + 32, "abcdefgh", 8);
    double f = 2.5;
    memcpy(data + 48, &f, 8);
    unsigned char *fmt = data + 56;
    static const char *formats[] = {"q", "8s", "xxxxxx?x", "xxxxxxx?", "16s", "d"};
    for (int i = 0; i < 6; i++)
        memcpy(fmt + 8 * i, formats[i], strlen(formats[i]));
    static const unsigned char codes[] = {0, 1, 3, 0, 2, 0};
    memcpy(fmt + 48, codes, 6);

    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 6), 0);
    size_t size;
    unsigned char *got = block_bytes(name, &size);
    ck_assert_uint_eq(size, sizeof want);
    ck_assert(memcmp(got, want, sizeof want) == 0);
    free(got);
    mproc_shlist_close(l);
    mproc_unlink(name);

    /* and a block written by hand in that layout opens and reads */
    make_block(name, want, sizeof want);
    ck_assert_int_eq(mproc_shlist_open(&l, name), 0);
    ck_assert_uint_eq(mproc_shlist_len(l), 6);
    for (int i = 0; i < 6; i++)
        expect_item(l, i, items[i]);
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

START_TEST(slots_are_sized_like_pythons)
{
    /* 8 * (len / 8 + 1): 0..7 bytes -> 8, 8..15 -> 16; a str in UTF-8 bytes
     * (7 characters, 14 bytes -> 16) */
    static const char e7[] = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    mproc_sl_item_t items[] = {ITEM_BYTES("1234567", 7), ITEM_BYTES("12345678", 8), ITEM_STR(e7, 14),
                               ITEM_STR("", 0)};
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 4), 0);
    size_t size;
    unsigned char *b = block_bytes(name, &size);
    int64_t off[5];
    memcpy(off, b + 8, sizeof off);
    ck_assert_int_eq(off[1] - off[0], 8);
    ck_assert_int_eq(off[2] - off[1], 16);
    ck_assert_int_eq(off[3] - off[2], 16);
    ck_assert_int_eq(off[4] - off[3], 8);
    ck_assert_uint_eq(size, 8 + 5 * 8 + 48 + 4 * 8 + 4);
    free(b);
    /* a full slot takes exactly its size, one byte more is refused */
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_STR("12345678", 8)), 0);
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_STR("123456789", 9)), MPROC_EINVAL);
    expect_item(l, 0, ITEM_STR("12345678", 8));
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

/* Python's __setitem__ lets a str or bytes fill its whole slot, even the
 * largest (9999992 bytes, one more than any item a list is created with),
 * and reads it back whole */
START_TEST(the_largest_slot_takes_a_value_as_long_as_itself)
{
    enum { SLOT = 9999992 };
    unsigned char *big = malloc(SLOT + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'y', SLOT + 1);
    mproc_sl_item_t items[] = {ITEM_BYTES(big, SLOT - 1), ITEM_INT(1)};
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 2), 0);
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_BYTES(big, SLOT)), 0);
    expect_item(l, 0, ITEM_BYTES(big, SLOT));
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_STR(big, SLOT)), 0);
    expect_item(l, 0, ITEM_STR(big, SLOT));
    /* one byte more is refused, and changes nothing */
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_BYTES(big, SLOT + 1)), MPROC_EINVAL);
    expect_item(l, 0, ITEM_STR(big, SLOT));
    /* an 8-byte slot, likewise */
    ck_assert_int_eq(mproc_shlist_set(l, 1, &ITEM_BYTES(big, 8)), 0);
    expect_item(l, 1, ITEM_BYTES(big, 8));
    ck_assert_int_eq(mproc_shlist_set(l, 1, &ITEM_BYTES(big, 9)), MPROC_EINVAL);
    /* the create limit stays: a 9999992-byte item would need a 10000000-byte
     * slot, whose format "10000000s" Python cannot store */
    mproc_shlist_t *too;
    ck_assert_int_eq(mproc_shlist_create(&too, test_name("sl"), &ITEM_BYTES(big, SLOT), 1), MPROC_EINVAL);
    mproc_shlist_close(l);
    mproc_unlink(name);
    free(big);
}
END_TEST

START_TEST(empty_list)
{
    const char *name = test_name("sl");
    mproc_shlist_t *l, *o;
    ck_assert_int_eq(mproc_shlist_create(&l, name, NULL, 0), 0);
    ck_assert_uint_eq(mproc_shlist_len(l), 0);
    size_t size;
    free(block_bytes(name, &size));
    ck_assert_uint_eq(size, 16); /* the count and one offset, as Python's */
    ck_assert_int_eq(mproc_shlist_open(&o, name), 0);
    ck_assert_uint_eq(mproc_shlist_len(o), 0);
    mproc_sl_item_t it;
    ck_assert_int_eq(mproc_shlist_get(o, 0, &it), MPROC_EINDEX);
    ck_assert_int_eq(mproc_shlist_get(o, -1, &it), MPROC_EINDEX);
    ck_assert_int_eq(mproc_shlist_set(o, 0, &ITEM_INT(1)), MPROC_EINDEX);
    mproc_shlist_close(o);
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

START_TEST(indexes_count_from_the_end_and_are_bounded)
{
    mproc_sl_item_t items[] = {ITEM_INT(10), ITEM_INT(11), ITEM_INT(12)};
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 3), 0);
    expect_item(l, -1, ITEM_INT(12));
    expect_item(l, -3, ITEM_INT(10));
    mproc_sl_item_t it = {.type = 77};
    ck_assert_int_eq(mproc_shlist_get(l, 3, &it), MPROC_EINDEX);
    ck_assert_int_eq(mproc_shlist_get(l, -4, &it), MPROC_EINDEX);
    ck_assert_int_eq(mproc_shlist_get(l, SSIZE_MAX, &it), MPROC_EINDEX);
    ck_assert_int_eq(mproc_shlist_get(l, -SSIZE_MAX - 1, &it), MPROC_EINDEX);
    ck_assert_int_eq(it.type, 77); /* untouched on error */
    ck_assert_int_eq(mproc_shlist_set(l, -1, &ITEM_INT(99)), 0);
    expect_item(l, 2, ITEM_INT(99));
    ck_assert_int_eq(mproc_shlist_set(l, 3, &ITEM_INT(1)), MPROC_EINDEX);
    ck_assert_int_eq(mproc_shlist_set(l, -4, &ITEM_INT(1)), MPROC_EINDEX);
    ck_assert_int_eq(mproc_shlist_set(l, -SSIZE_MAX - 1, &ITEM_INT(1)), MPROC_EINDEX);
    /* the index is judged before the value, as in Python */
    ck_assert_int_eq(mproc_shlist_set(l, 5, &(mproc_sl_item_t){.type = 42}), MPROC_EINDEX);
    expect_item(l, 0, ITEM_INT(10));
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

START_TEST(any_type_replaces_any_other)
{
    static const char u[] = "\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf"; /* 16 bytes */
    mproc_sl_item_t items[] = {ITEM_INT(1), ITEM_STR("sixteen-byte-slt", 15), ITEM_NONE, ITEM_BOOL(1)};
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 4), 0);
    mproc_sl_item_t seq[] = {ITEM_STR("abcdefgh", 8), ITEM_FLOAT(-0.0), ITEM_BOOL(0), ITEM_NONE,
                             ITEM_BYTES("\0x", 2), ITEM_INT(INT64_MIN), ITEM_STR("", 0)};
    for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++)
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(mproc_shlist_set(l, i, &seq[k]), 0);
            expect_item(l, i, seq[k]);
        }
    ck_assert_int_eq(mproc_shlist_set(l, 1, &ITEM_STR(u, 16)), 0);
    expect_item(l, 1, ITEM_STR(u, 16));
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_STR(u, 16)), MPROC_EINVAL);

    /* Python's quirk: an 8-byte value over a 16-byte slot writes 8 bytes and
     * leaves the rest; the format says "q", so it reads as the int */
    ck_assert_int_eq(mproc_shlist_set(l, 1, &ITEM_INT(5)), 0);
    size_t size;
    unsigned char *b = block_bytes(name, &size);
    int64_t off1;
    memcpy(&off1, b + 16, 8);
    unsigned char *slot = b + 8 * 6 + off1;
    ck_assert(memcmp(slot + 8, u + 8, 8) == 0);
    int64_t five;
    memcpy(&five, slot, 8);
    ck_assert_int_eq(five, 5);
    free(b);
    expect_item(l, 1, ITEM_INT(5));
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

START_TEST(bad_sets_change_nothing)
{
    mproc_sl_item_t items[] = {ITEM_STR("short", 5), ITEM_INT(3)};
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 2), 0);
    size_t size, size2;
    unsigned char *before = block_bytes(name, &size);
    const mproc_sl_item_t bad[] = {
        ITEM_STR("far too long", 12), ITEM_BYTES("123456789", 9), {.type = -1}, {.type = 6},
        ITEM_BOOL(2), ITEM_BOOL(-1), ITEM_STR(NULL, 1), ITEM_BYTES(NULL, 3),
        ITEM_STR("\xff", 1), ITEM_STR("\xc3", 1), ITEM_STR("\xed\xa0\x80", 3), /* a surrogate */
        ITEM_STR("\xc0\x80", 2), ITEM_STR("\xf4\x90\x80\x80", 4),               /* overlong, > U+10FFFF */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(mproc_shlist_set(l, 0, &bad[k]) == MPROC_EINVAL, "bad item %zu", k);
        ck_assert_int_eq(mproc_shlist_set(l, 1, &bad[k]), MPROC_EINVAL);
    }
    ck_assert_int_eq(mproc_shlist_set(NULL, 0, &items[0]), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_set(l, 0, NULL), MPROC_EINVAL);
    mproc_sl_item_t it;
    ck_assert_int_eq(mproc_shlist_get(NULL, 0, &it), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_get(l, 0, NULL), MPROC_EINVAL);
    unsigned char *after = block_bytes(name, &size2);
    ck_assert_uint_eq(size, size2);
    ck_assert(memcmp(before, after, size) == 0);
    free(before);
    free(after);
    /* empty data with len 0 is fine, NULL or not */
    ck_assert_int_eq(mproc_shlist_set(l, 0, &ITEM_BYTES(NULL, 0)), 0);
    expect_item(l, 0, ITEM_BYTES("", 0));
    ck_assert_int_eq(mproc_shlist_close(NULL), MPROC_EINVAL);
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

/* Build files of this process left in /dev/shm. */
static int build_files_left(void)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".mproc-build-%d-", (int)getpid());
    DIR *d = opendir("/dev/shm");
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d != NULL)
        closedir(d);
    return n;
}

START_TEST(bad_creates_fail_and_leave_nothing)
{
    const char *name = test_name("sl");
    mproc_shlist_t *l, *o;
    mproc_sl_item_t good[] = {ITEM_INT(1)};
    const mproc_sl_item_t bad[] = {{.type = 9}, ITEM_BOOL(7), ITEM_STR(NULL, 2), ITEM_STR("\x80", 1)};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mproc_sl_item_t two[] = {good[0], bad[k]};
        ck_assert_int_eq(mproc_shlist_create(&l, name, two, 2), MPROC_EINVAL);
        ck_assert_int_eq(mproc_shlist_open(&o, name), MPROC_ENOENT);
    }
    ck_assert_int_eq(mproc_shlist_create(NULL, name, good, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_create(&l, name, NULL, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_create(&l, name, good, SIZE_MAX), MPROC_ENOMEM);
    ck_assert_int_eq(mproc_shlist_create(&l, name, good, SIZE_MAX / 64), MPROC_ENOMEM);
    ck_assert_int_eq(mproc_shlist_create(&l, "", good, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_create(&l, "a/b", good, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_open(&o, "a/b"), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_open(NULL, name), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_open(&o, NULL), MPROC_EINVAL);

    /* the longest item Python can hold, and one byte more */
    size_t big = 9999991;
    char *s = malloc(big + 1);
    memset(s, 'z', big + 1);
    ck_assert_int_eq(mproc_shlist_create(&l, name, &ITEM_BYTES(s, big + 1), 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shlist_create(&l, name, &ITEM_STR(s, big), 1), 0);
    ck_assert_int_eq(mproc_shlist_open(&o, name), 0);
    mproc_sl_item_t it;
    ck_assert_int_eq(mproc_shlist_get(o, 0, &it), 0);
    ck_assert_uint_eq(it.len, big);
    free(it.data);
    mproc_shlist_close(o);
    mproc_shlist_close(l);
    free(s);

    /* the name is taken: EEXIST, and the list there is untouched */
    ck_assert_int_eq(mproc_shlist_create(&l, name, good, 1), MPROC_EEXIST);
    ck_assert_int_eq(mproc_shlist_open(&o, name), 0);
    ck_assert_int_eq(mproc_shlist_get(o, 0, &it), 0);
    ck_assert_uint_eq(it.len, big);
    free(it.data);
    mproc_shlist_close(o);
    mproc_unlink(name);
    ck_assert_int_eq(build_files_left(), 0);
}
END_TEST

START_TEST(fresh_names_are_pythons_form)
{
    mproc_shlist_t *a, *b, *o;
    mproc_sl_item_t items[] = {ITEM_STR("x", 1)};
    ck_assert_int_eq(mproc_shlist_create(&a, NULL, items, 1), 0);
    ck_assert_int_eq(mproc_shlist_create(&b, NULL, items, 1), 0);
    const char *na = mproc_shlist_name(a);
    ck_assert_uint_eq(strlen(na), 12);
    ck_assert_int_eq(strncmp(na, "psm_", 4), 0);
    ck_assert_uint_eq(strspn(na + 4, "0123456789abcdef"), 8);
    ck_assert_str_ne(na, mproc_shlist_name(b));
    ck_assert_int_eq(mproc_shlist_open(&o, na), 0);
    expect_item(o, 0, items[0]);
    mproc_shlist_close(o);
    mproc_unlink(mproc_shlist_name(a));
    mproc_unlink(mproc_shlist_name(b));
    mproc_shlist_close(a);
    mproc_shlist_close(b);
    ck_assert_int_eq(build_files_left(), 0);
}
END_TEST

struct child_arg {
    const char *name;
    int index;
};

static int child_sets(void *arg)
{
    struct child_arg *a = arg;
    mproc_shlist_t *l;
    if (mproc_shlist_open(&l, a->name) != 0)
        return 2;
    char text[16];
    int n = snprintf(text, sizeof text, "child %d", a->index);
    int r = mproc_shlist_set(l, a->index, &ITEM_STR(text, (size_t)n));
    mproc_shlist_close(l);
    return r == 0 ? 0 : 3;
}

START_TEST(other_processes_read_and_write_by_name)
{
    mproc_sl_item_t items[4];
    for (int i = 0; i < 4; i++)
        items[i] = ITEM_NONE;
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 4), 0);
    struct child_arg args[4];
    pid_t pids[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct child_arg){name, i};
        pids[i] = fork_child(child_sets, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wait_child(pids[i], 30), 0);
    for (int i = 0; i < 4; i++) {
        char text[16];
        int n = snprintf(text, sizeof text, "child %d", i);
        expect_item(l, i, ITEM_STR(text, (size_t)n));
    }
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

/* ---- Python 3.8's layout: count, N slot sizes, data, formats, codes ---- */

START_TEST(python38_layout_opens_reads_and_writes)
{
    /* ShareableList([-5, "abc", None, False]) as Python 3.8 writes it */
    unsigned char b[8 + 4 * 8 + 32 + 32 + 4] = {0};
    put64(b, 4);
    for (int i = 0; i < 4; i++)
        put64(b + 8 + 8 * i, 8);
    unsigned char *data = b + 40;
    put64(data, -5);
    memcpy(data + 8, "abc", 3);
    static const char *formats[] = {"q", "8s", "xxxxxx?x", "xxxxxxx?"};
    for (int i = 0; i < 4; i++)
        memcpy(data + 32 + 8 * i, formats[i], strlen(formats[i]));
    static const unsigned char codes[] = {0, 1, 3, 0};
    memcpy(data + 64, codes, 4);
    const char *name = test_name("sl38");
    make_block(name, b, sizeof b);
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_open(&l, name), 0);
    ck_assert_uint_eq(mproc_shlist_len(l), 4);
    expect_item(l, 0, ITEM_INT(-5));
    expect_item(l, 1, ITEM_STR("abc", 3));
    expect_item(l, 2, ITEM_NONE);
    expect_item(l, 3, ITEM_BOOL(0));
    ck_assert_int_eq(mproc_shlist_set(l, 3, &ITEM_STR("12345678", 8)), 0);
    ck_assert_int_eq(mproc_shlist_set(l, 1, &ITEM_FLOAT(1.5)), 0);
    mproc_shlist_close(l);
    size_t size;
    unsigned char *after = block_bytes(name, &size);
    ck_assert(memcmp(after + 40 + 24, "12345678", 8) == 0);
    ck_assert(memcmp(after + 40 + 32 + 24, "8s\0\0\0\0\0\0", 8) == 0);
    ck_assert_int_eq(after[40 + 64 + 3], 1);
    free(after);
    ck_assert_int_eq(mproc_shlist_open(&l, name), 0);
    expect_item(l, -1, ITEM_STR("12345678", 8));
    expect_item(l, 1, ITEM_FLOAT(1.5));
    mproc_shlist_close(l);
    mproc_unlink(name);

    /* Python 3.8's empty list: the count alone */
    unsigned char empty[8] = {0};
    make_block(name, empty, sizeof empty);
    ck_assert_int_eq(mproc_shlist_open(&l, name), 0);
    ck_assert_uint_eq(mproc_shlist_len(l), 0);
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

/* ---- items as Python reads them when format and code disagree (a set seen
 * half-done, or a writer killed half-way) ---- */

START_TEST(half_done_items_read_as_python_reads_them)
{
    mproc_sl_item_t items[] = {ITEM_STR("abc", 3), ITEM_INT(7), ITEM_NONE, ITEM_BOOL(0), ITEM_STR("x", 1)};
    const char *name = test_name("sl");
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_create(&l, name, items, 5), 0);
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_shm_open(&m, name), 0);
    unsigned char *b = mproc_shm_buf(m);
    unsigned char *data = b + 8 * 7, *fmt = data + 40, *code = fmt + 40;
    /* code 0 with "8s": the raw slot, NULs and all (Python: the bytes unstripped) */
    code[0] = 0;
    expect_item(l, 0, ITEM_BYTES("abc\0\0\0\0\0", 8));
    /* code 1 with "q": Python raises ('int' has no rstrip) */
    code[1] = 1;
    mproc_sl_item_t it = {.type = 55};
    ck_assert_int_eq(mproc_shlist_get(l, 1, &it), MPROC_ETYPE);
    ck_assert_int_eq(it.type, 55);
    code[1] = 2;
    ck_assert_int_eq(mproc_shlist_get(l, 1, &it), MPROC_ETYPE);
    /* code 3: None whatever the format */
    code[1] = 3;
    expect_item(l, 1, ITEM_NONE);
    /* "xxxxxx?x" with code 0: the bool in byte 6 */
    code[2] = 0;
    data[16 + 6] = 1;
    expect_item(l, 2, ITEM_BOOL(1));
    /* a bool byte other than 0 or 1 reads True, as Python's '?' */
    data[24 + 7] = 2;
    expect_item(l, 3, ITEM_BOOL(1));
    /* a str that is not UTF-8 (Python raises UnicodeDecodeError) */
    data[32] = 0xc3;
    ck_assert_int_eq(mproc_shlist_get(l, 4, &it), MPROC_ETYPE);
    /* an unknown format or code written after open: that item only */
    memcpy(fmt + 8 * 4, "zz\0\0\0\0\0\0", 8);
    ck_assert_int_eq(mproc_shlist_get(l, 4, &it), MPROC_ETYPE);
    code[3] = 9;
    ck_assert_int_eq(mproc_shlist_get(l, 3, &it), MPROC_ETYPE);
    expect_item(l, 0, ITEM_BYTES("abc\0\0\0\0\0", 8));
    /* a later open still accepts mismatched pairs (each item is judged
     * on get), and a set repairs an item */
    code[3] = 0;
    mproc_shlist_t *o;
    memcpy(fmt + 8 * 4, "8s\0\0\0\0\0\0", 8);
    code[1] = 1;
    ck_assert_int_eq(mproc_shlist_open(&o, name), 0);
    ck_assert_int_eq(mproc_shlist_get(o, 1, &it), MPROC_ETYPE);
    ck_assert_int_eq(mproc_shlist_set(o, 1, &ITEM_INT(8)), 0);
    expect_item(o, 1, ITEM_INT(8));
    ck_assert_int_eq(mproc_shlist_set(o, 4, &ITEM_STR("ok", 2)), 0);
    expect_item(l, 4, ITEM_STR("ok", 2));
    mproc_shlist_close(o);
    mproc_shm_close(m);
    mproc_shlist_close(l);
    mproc_unlink(name);
}
END_TEST

/* ---- hostile blocks: open refuses them, never crashes ---- */

/* A valid 3.9+ block of [1, "abcdefgh", None] (sizes: data 8 + 16 + 8). */
static size_t valid_block(unsigned char *b)
{
    memset(b, 0, 256);
    put64(b, 3);
    put64(b + 8, 0);
    put64(b + 16, 8);
    put64(b + 24, 24);
    put64(b + 32, 32);
    unsigned char *data = b + 40;
    put64(data, 1);
    memcpy(data + 8, "abcdefgh", 8);
    memcpy(data + 32, "q", 1);
    memcpy(data + 40, "16s", 3);
    memcpy(data + 48, "xxxxxx?x", 8);
    data[56] = 0;
    data[57] = 1;
    data[58] = 3;
    return 40 + 59;
}

static int open_bytes(const unsigned char *b, size_t size)
{
    const char *name = test_name("hostile");
    make_block(name, b, size);
    mproc_shlist_t *l;
    int r = mproc_shlist_open(&l, name);
    if (r == 0) {
        for (size_t i = 0; i < mproc_shlist_len(l); i++) {
            mproc_sl_item_t it;
            if (mproc_shlist_get(l, (ssize_t)i, &it) == 0)
                free(it.data);
        }
        mproc_shlist_close(l);
    }
    mproc_unlink(name);
    return r;
}

START_TEST(hostile_layouts_are_refused)
{
    unsigned char b[256];
    size_t size = valid_block(b);
    ck_assert_int_eq(open_bytes(b, size), 0);
    ck_assert_int_eq(open_bytes(b, size + 100), 0); /* room after the list is fine */

    struct { size_t at; int64_t value; const char *what; } words[] = {
        {0, -1, "negative count"},
        {0, INT64_MAX, "absurd count"},
        {0, INT64_MIN, "absurd negative count"},
        {0, 4, "count one too many"},
        {0, 1000000, "count past the block"},
        {16, 4, "slot under 8 bytes"},
        {16, 12, "slot not a multiple of 8"},
        {24, 4, "offsets out of order"},
        {24, 8, "empty slot"},
        {32, 1 << 20, "last offset past the block"},
        {32, -8, "negative offset"},
        {16, INT64_MIN, "offset wrapping around"},
        {32, 10000000 + 24, "slot larger than any format can name"},
    };
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        unsigned char h[256];
        valid_block(h);
        put64(h + words[k].at, words[k].value);
        ck_assert_msg(open_bytes(h, size) == MPROC_ETYPE, "%s", words[k].what);
    }
    /* formats and codes */
    struct { size_t at; const char *bytes; size_t len; const char *what; } patches[] = {
        {40 + 32, "z\0", 2, "unknown format"},
        {40 + 32, "Q", 1, "a struct format Python never writes"},
        {40 + 32, "qq", 2, "two formats"},
        {40 + 32, "q\0x", 3, "a NUL inside the format"},
        {40 + 40, "8s\0", 3, "str format smaller than its slot"},
        {40 + 40, "24s", 3, "str format larger than its slot"},
        {40 + 40, "016s", 4, "leading zero"},
        {40 + 40, "s\0\0", 3, "no length"},
        {40 + 40, "1 6s", 4, "not a number"},
        {40 + 40, "16S", 3, "upper case"},
        {40 + 40, "\0\0\0", 3, "empty format"},
        {40 + 56, "\4", 1, "code 4"},
        {40 + 57, "\xff", 1, "code -1"},
        {40 + 58, "\x80", 1, "code -128"},
    };
    for (size_t k = 0; k < sizeof patches / sizeof patches[0]; k++) {
        unsigned char h[256];
        valid_block(h);
        memcpy(h + patches[k].at, patches[k].bytes, patches[k].len);
        ck_assert_msg(open_bytes(h, size) == MPROC_ETYPE, "%s", patches[k].what);
    }
    /* every truncation of a valid block */
    for (size_t cut = 1; cut < size; cut++)
        ck_assert_msg(open_bytes(b, cut) == MPROC_ETYPE, "truncated to %zu", cut);
    ck_assert_int_eq(open_bytes((const unsigned char *)"abc", 3), MPROC_ETYPE);

    /* slots that are not multiples of 8 (Python never makes them; mproc
     * keeps every 8-byte word aligned): [1, 2] with slots of 12 and 8 */
    unsigned char odd[16 + 16 + 20 + 16 + 2] = {0};
    put64(odd, 2);
    put64(odd + 16, 12);
    put64(odd + 24, 20);
    put64(odd + 32, 1);
    put64(odd + 44, 2);
    memcpy(odd + 52, "q", 1);
    memcpy(odd + 60, "q", 1);
    ck_assert_int_eq(open_bytes(odd, sizeof odd), MPROC_ETYPE);
    put64(odd + 16, 8); /* the same with slots of 8 and 12 */
    ck_assert_int_eq(open_bytes(odd, sizeof odd), MPROC_ETYPE);
    put64(odd + 24, 16); /* 8 and 8, formats 4 bytes later: valid */
    memset(odd + 48, 0, sizeof odd - 48);
    put64(odd + 40, 2);
    memcpy(odd + 48, "q", 1);
    memcpy(odd + 56, "q", 1);
    ck_assert_int_eq(open_bytes(odd, sizeof odd - 4), 0);
}
END_TEST

START_TEST(tiny_and_random_blocks_are_refused_a_zero_block_is_empty)
{
    const char *name = test_name("hostile");
    /* a block of size 0 */
    char path[256];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_open(&l, name), MPROC_ETYPE);
    mproc_unlink(name);
    for (size_t size = 1; size < 8; size++)
        ck_assert_int_eq(open_bytes((const unsigned char *)"\0\0\0\0\0\0\0\0", size), MPROC_ETYPE);
    /* an all-zero block of 16 bytes or more is an empty list, as Python 3.9+
     * reads it */
    {
        mproc_shm_t *m;
        ck_assert_int_eq(mproc_shm_create(&m, name, 4096), 0);
        mproc_shm_close(m);
    }
    ck_assert_int_eq(mproc_shlist_open(&l, name), 0);
    ck_assert_uint_eq(mproc_shlist_len(l), 0);
    mproc_shlist_close(l);
    mproc_unlink(name);
    /* random blocks: refused (a random count is absurd); never a crash */
    unsigned seed = 12345;
    unsigned char *r = malloc(65536);
    for (int round = 0; round < 200; round++) {
        size_t size = 1 + (size_t)rand_r(&seed) % 65536;
        for (size_t i = 0; i < size; i++)
            r[i] = (unsigned char)rand_r(&seed);
        ck_assert_int_eq(open_bytes(r, size), MPROC_ETYPE);
    }
    /* random bytes behind a plausible header */
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)rand_r(&seed) % 8, size = 16 + 8 * n + 64 + 9 * n;
        for (size_t i = 0; i < size; i++)
            r[i] = (unsigned char)rand_r(&seed);
        put64(r, (int64_t)n);
        put64(r + 8, 0);
        for (size_t i = 1; i <= n; i++)
            put64(r + 8 + 8 * i, (int64_t)(8 * i + (rand_r(&seed) % 2 ? 0 : 8 * (i == n))));
        int got = open_bytes(r, size);
        ck_assert(got == MPROC_ETYPE || got == 0);
    }
    free(r);
}
END_TEST

/* A sparse 1 TB block whose count (size / 25) would ask for a 320 GB copy of
 * its offsets: refused as MPROC_ETYPE at the first missing offset, having
 * allocated only for the offsets really there (no malloc of the whole count,
 * which overcommit could grant and the OOM killer collect). */
START_TEST(a_huge_sparse_block_with_a_huge_count_is_refused_cheaply)
{
    const char *name = test_name("huge");
    char path[256];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    const off_t size = (off_t)1 << 40;
    ck_assert_int_eq(ftruncate(fd, size), 0); /* sparse: no memory yet */
    unsigned char head[16 + 8 * 3000];
    put64(head, (int64_t)((size - 16) / 25));
    for (int64_t i = 0; i <= 3000; i++) /* 3000 valid slots of 8, then zeros */
        put64(head + 8 + 8 * i, 8 * i);
    ck_assert(pwrite(fd, head, sizeof head, 0) == (ssize_t)sizeof head);
    close(fd);
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_open(&l, name), MPROC_ETYPE);
    mproc_unlink(name);
}
END_TEST

/* ---- a creator killed at any moment ---- */

#define KILLED_ITEMS 40000
struct killed_arg {
    const char *name;
};

static int child_creates_big_list(void *arg)
{
    struct killed_arg *a = arg;
    mproc_sl_item_t *items = malloc(KILLED_ITEMS * sizeof *items);
    for (int i = 0; i < KILLED_ITEMS; i++)
        items[i] = ITEM_INT(i);
    mproc_shlist_t *l;
    return mproc_shlist_create(&l, a->name, items, KILLED_ITEMS) == 0 ? 0 : 2;
}

/* Removes the files in /dev/shm whose names start with prefix with `mproc gc
 * NAME` (only those: other programs' objects are left alone), or without
 * the command with mproc_unlink; returns how many there were. */
static int gc_files_with_prefix(const char *prefix)
{
    char names[16][256];
    int n = 0;
    DIR *d = opendir("/dev/shm");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL && n < 16;)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    if (d != NULL)
        closedir(d);
    const char *tool = getenv("MPROC_TOOL");
    for (int i = 0; i < n; i++) {
        char command[1024];
        snprintf(command, sizeof command, "'%.700s' gc '%.250s' >/dev/null", tool ? tool : "", names[i]);
        if (tool == NULL)
            mproc_unlink(names[i]);
        else if (system(command) != 0)
            fprintf(stderr, "mproc gc %s failed\n", names[i]);
    }
    return n;
}

/* Killed at a random moment of create, a creator leaves either nothing under
 * the name or the whole list: never a half-built one (what is left is a
 * build file, which `mproc gc` removes once the creator is dead). */
START_TEST(killed_creator_never_leaves_a_half_built_list)
{
    int whole = 0, none = 0, built = 0;
    /* how long a creator takes here, from fork to exit: the kills fall
     * anywhere within 1.5 times that */
    const char *timed = test_name("slkill");
    struct killed_arg timed_arg = {timed};
    double start = now();
    ck_assert_int_eq(wait_child(fork_child(child_creates_big_list, &timed_arg), 60), 0);
    unsigned span_us = (unsigned)((now() - start) * 1.5e6);
    mproc_unlink(timed);
    for (int round = 0; round < 30; round++) {
        const char *name = test_name("slkill");
        struct killed_arg arg = {name};
        pid_t pid = fork_child(child_creates_big_list, &arg);
        pause_random_us(span_us);
        kill_child(pid);
        mproc_shlist_t *l;
        int r = mproc_shlist_open(&l, name);
        ck_assert_msg(r == 0 || r == MPROC_ENOENT, "round %d: %s", round, mproc_strerror(r));
        if (r == 0) {
            ck_assert_uint_eq(mproc_shlist_len(l), KILLED_ITEMS);
            expect_item(l, 0, ITEM_INT(0));
            expect_item(l, -1, ITEM_INT(KILLED_ITEMS - 1));
            mproc_shlist_close(l);
            mproc_unlink(name);
            whole++;
        } else {
            none++;
        }
        char prefix[64];
        snprintf(prefix, sizeof prefix, ".mproc-build-%d-", (int)pid);
        if (gc_files_with_prefix(prefix) > 0) {
            ck_assert_int_eq(gc_files_with_prefix(prefix), 0); /* gc removed them */
            built++;
        }
    }
    fprintf(stderr, "killed creators: %d left the whole list, %d nothing (%d a build file)\n", whole,
            none, built);
}
END_TEST

/* ---- interop with every Python 3.8+ on the machine ---- */

/* Runs tests/shlist_peer.py MODE NAME [WHICH] under pythons[i]: its exit
 * code (CHILD_HUNG if it took more than 60 s). */
static int run_peer(int i, const char *mode, const char *name, const char *which)
{
    char script[1024];
    const char *dir = getenv("MPROC_TESTS_DIR");
    snprintf(script, sizeof script, "%s/shlist_peer.py", dir ? dir : "tests");
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execlp(pythons[i], pythons[i], script, mode, name, which, (char *)NULL);
        _exit(127);
    }
    return wait_child(pid, 60);
}

/* The twins of shlist_peer.py's CORNER, READ, CHANGES and FINAL. */
#define U_MIX "\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 \xe2\x9c\x93" /* "ünïcødé ✓" */
#define U_CLEF "\xf0\x9d\x84\x9e"                                 /* U+1D11E */
#define U_Y8 "\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf"
#define NCORNER 26
static void corner_items(mproc_sl_item_t *it)
{
    mproc_sl_item_t v[NCORNER] = {
        ITEM_INT(0), ITEM_INT(-1), ITEM_INT(INT64_MAX), ITEM_INT(INT64_MIN),
        ITEM_FLOAT(0.0), ITEM_FLOAT(-0.0), ITEM_FLOAT(INFINITY), ITEM_FLOAT(-INFINITY), ITEM_FLOAT(NAN),
        ITEM_FLOAT(5e-324), ITEM_FLOAT(1.7976931348623157e308),
        ITEM_BOOL(1), ITEM_BOOL(0), ITEM_NONE,
        ITEM_STR("", 0), ITEM_STR("ascii", 5), ITEM_STR("abcdefgh", 8), ITEM_STR("a\0b", 3),
        ITEM_STR("trail\0\0", 7), ITEM_STR("\xc3\xa9", 2), ITEM_STR(U_MIX, strlen(U_MIX)),
        ITEM_STR(U_CLEF, 4),
        ITEM_BYTES("", 0), ITEM_BYTES("\0\1\0", 3), ITEM_BYTES("bytes\0\0", 7),
        ITEM_BYTES("\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9),
    };
    memcpy(it, v, sizeof v);
}

static void read_items(mproc_sl_item_t *it)
{
    corner_items(it);
    it[18] = ITEM_STR("trail", 5);
    it[23] = ITEM_BYTES("\0\1", 2);
    it[24] = ITEM_BYTES("bytes", 5);
}

static const struct { int index; mproc_sl_item_t item; } changes[] = {
    {0, ITEM_STR("str!", 4)}, {1, ITEM_STR("12345678", 8)}, {2, ITEM_NONE}, {3, ITEM_BOOL(1)},
    {4, ITEM_BYTES("\0abc", 4)}, {5, ITEM_INT(INT64_MIN)}, {11, ITEM_FLOAT(3.5)}, {13, ITEM_INT(7)},
    {14, ITEM_INT(42)}, {16, ITEM_BOOL(0)}, {17, ITEM_BYTES("xyz", 3)}, {20, ITEM_STR(U_Y8, 16)},
    {22, ITEM_STR("", 0)}, {24, ITEM_STR("back\0", 5)}, {25, ITEM_FLOAT(-0.0)},
};
#define NCHANGES (sizeof changes / sizeof changes[0])

static void final_items(mproc_sl_item_t *it)
{
    read_items(it);
    for (size_t k = 0; k < NCHANGES; k++)
        it[changes[k].index] = changes[k].item;
    it[24] = ITEM_STR("back", 4);
}

static int python39_or_later(int i)
{
    return strcmp(versions[i], "3.8") != 0;
}

START_TEST(pythons_were_found)
{
    ck_assert_msg(npythons >= 1, "no python3 (3.8 or newer) found");
    for (int i = 0; i < npythons; i++)
        fprintf(stderr, "shlist interop: Python %s (%s)\n", versions[i], pythons[i]);
}
END_TEST

/* Python creates, C reads, changes, Python re-reads; C creates, Python
 * reads, changes, C re-reads (Python 3.9+: 3.8 cannot read the 3.9 layout).
 * Every block C makes or changes is byte for byte the one Python makes or
 * changes (with 3.8, all but 3.8's shorter header). */
START_TEST(python_and_c_share_lists_both_ways)
{
    int i = _i;
    mproc_sl_item_t corner[NCORNER], read[NCORNER], final[NCORNER];
    corner_items(corner);
    read_items(read);
    final_items(final);
    char by_python[128], by_c[128];
    snprintf(by_python, sizeof by_python, "%s", test_name("slpy"));
    snprintf(by_c, sizeof by_c, "%s", test_name("slc"));

    /* Python creates, C reads */
    ck_assert_msg(run_peer(i, "create", by_python, NULL) == 0, "Python %s create", versions[i]);
    mproc_shlist_t *l, *c;
    ck_assert_int_eq(mproc_shlist_open(&l, by_python), 0);
    ck_assert_uint_eq(mproc_shlist_len(l), NCORNER);
    for (int k = 0; k < NCORNER; k++)
        expect_item(l, k, read[k]);
    /* C creates the same list, Python reads it */
    ck_assert_int_eq(mproc_shlist_create(&c, by_c, corner, NCORNER), 0);
    /* (Python 3.8 reads only its own layout: not 3.9's, which mproc makes) */
    if (python39_or_later(i))
        ck_assert_msg(run_peer(i, "check", by_c, "corner") == 0, "Python %s reading C's list",
                      versions[i]);
    size_t size_p, size_c;
    unsigned char *bp = block_bytes(by_python, &size_p), *bc = block_bytes(by_c, &size_c);
    if (python39_or_later(i)) {
        ck_assert_uint_eq(size_p, size_c);
        ck_assert_msg(memcmp(bp, bc, size_c) == 0, "Python %s: blocks differ", versions[i]);
    } else { /* 3.8: one word less at the start, the rest the same */
        ck_assert_uint_eq(size_p + 8, size_c);
        ck_assert(memcmp(bp + 8 + 8 * NCORNER, bc + 16 + 8 * NCORNER, size_p - 8 - 8 * NCORNER) == 0);
    }
    free(bp);
    free(bc);

    /* C changes Python's list, Python re-reads; Python changes C's, C re-reads */
    for (size_t k = 0; k < NCHANGES; k++)
        ck_assert_int_eq(mproc_shlist_set(l, changes[k].index, &changes[k].item), 0);
    ck_assert_msg(run_peer(i, "check", by_python, "changed") == 0, "Python %s re-reading", versions[i]);
    if (python39_or_later(i))
        ck_assert_msg(run_peer(i, "change", by_c, NULL) == 0, "Python %s changing C's list",
                      versions[i]);
    else
        for (size_t k = 0; k < NCHANGES; k++)
            ck_assert_int_eq(mproc_shlist_set(c, changes[k].index, &changes[k].item), 0);
    for (int k = 0; k < NCORNER; k++) {
        expect_item(l, k, final[k]);
        expect_item(c, k, final[k]);
    }
    bp = block_bytes(by_python, &size_p);
    bc = block_bytes(by_c, &size_c);
    if (python39_or_later(i))
        ck_assert_msg(memcmp(bp, bc, size_c) == 0, "Python %s: changed blocks differ", versions[i]);
    else
        ck_assert(memcmp(bp + 8 + 8 * NCORNER, bc + 16 + 8 * NCORNER, size_p - 8 - 8 * NCORNER) == 0);
    free(bp);
    free(bc);
    mproc_shlist_close(l);
    mproc_shlist_close(c);
    ck_assert_int_eq(mproc_unlink(by_python), 0);
    ck_assert_int_eq(mproc_unlink(by_c), 0);
}
END_TEST

/* Python's own truncation of a non-ASCII str reads the same here: where
 * Python raises, MPROC_ETYPE; where it reads a shorter str, that str. */
START_TEST(pythons_truncated_strs_read_the_same)
{
    int i = _i;
    const char *name = test_name("sltrunc");
    ck_assert_msg(run_peer(i, "truncated", name, NULL) == 0, "Python %s", versions[i]);
    mproc_shlist_t *l;
    ck_assert_int_eq(mproc_shlist_open(&l, name), 0);
    mproc_sl_item_t it;
    ck_assert_int_eq(mproc_shlist_get(l, 0, &it), MPROC_ETYPE);
    expect_item(l, 1, ITEM_STR("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8));
    mproc_shlist_close(l);
    ck_assert_int_eq(mproc_unlink(name), 0);
}
END_TEST

int main(void)
{
    find_pythons();
    Suite *s = suite_create("shlist");
    TCase *tc = tcase_create("shlist");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_type_and_corner_value_reads_back);
    tcase_add_test(tc, trailing_nuls_read_back_stripped_as_in_python);
    tcase_add_test(tc, layout_is_pythons_byte_for_byte);
    tcase_add_test(tc, slots_are_sized_like_pythons);
    tcase_add_test(tc, the_largest_slot_takes_a_value_as_long_as_itself);
    tcase_add_test(tc, empty_list);
    tcase_add_test(tc, indexes_count_from_the_end_and_are_bounded);
    tcase_add_test(tc, any_type_replaces_any_other);
    tcase_add_test(tc, bad_sets_change_nothing);
    tcase_add_test(tc, bad_creates_fail_and_leave_nothing);
    tcase_add_test(tc, fresh_names_are_pythons_form);
    tcase_add_test(tc, other_processes_read_and_write_by_name);
    tcase_add_test(tc, python38_layout_opens_reads_and_writes);
    tcase_add_test(tc, half_done_items_read_as_python_reads_them);
    tcase_add_test(tc, hostile_layouts_are_refused);
    tcase_add_test(tc, tiny_and_random_blocks_are_refused_a_zero_block_is_empty);
    tcase_add_test(tc, a_huge_sparse_block_with_a_huge_count_is_refused_cheaply);
    tcase_add_test(tc, killed_creator_never_leaves_a_half_built_list);
    suite_add_tcase(s, tc);
    TCase *py = tcase_create("python");
    tcase_set_timeout(py, 120);
    tcase_add_test(py, pythons_were_found);
    tcase_add_loop_test(py, python_and_c_share_lists_both_ways, 0, npythons);
    tcase_add_loop_test(py, pythons_truncated_strs_read_the_same, 0, npythons);
    suite_add_tcase(s, py);
    return run_suite(s);
}
