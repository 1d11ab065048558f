/* The authentication handshake of Python's multiprocessing.connection.
 *
 * The challenger sends "#CHALLENGE#" + message; the answerer returns an HMAC
 * of the whole message keyed with the authkey; the challenger replies
 * "#WELCOME#" or "#FAILURE#". Two forms are in use:
 *   Python 3.12+: message "{sha256}" + 40 random bytes, answer "{sha256}" +
 *                 HMAC-SHA256 (other digests named the same way are allowed);
 *   Python <=3.11: message 20 random bytes, answer the raw 16-byte HMAC-MD5.
 * The lengths tell them apart: a modern message or answer is never 16 or 20
 * bytes long. mproc issues the modern form and answers and accepts both, as
 * Python 3.12 does. */
#include "connection/conn_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

#define CHALLENGE_RANDOM_BYTES 40
#define LEGACY_MESSAGE_LEN 20
#define LEGACY_ANSWER_LEN 16
#define DIGEST_NAME_MAX 8 /* "sha3_384" */

/* The digests Python accepts, by the names that appear on the wire. */
static const EVP_MD *digest_by_name(const char *name, size_t n)
{
    static const struct {
        const char *name;
        const EVP_MD *(*md)(void);
    } digests[] = {
        { "md5", EVP_md5 },         { "sha256", EVP_sha256 },     { "sha384", EVP_sha384 },
        { "sha3_256", EVP_sha3_256 }, { "sha3_384", EVP_sha3_384 },
    };
    for (size_t i = 0; i < sizeof digests / sizeof digests[0]; i++)
        if (strlen(digests[i].name) == n && memcmp(digests[i].name, name, n) == 0)
            return digests[i].md();
    return NULL;
}

/* Splits "{name}payload": the digest and where the payload starts. Messages
 * of the legacy lengths have no prefix: MD5, payload at 0. NULL: neither. */
static const EVP_MD *digest_of(const unsigned char *m, size_t n, size_t *payload)
{
    if (n == LEGACY_MESSAGE_LEN || n == LEGACY_ANSWER_LEN) {
        *payload = 0;
        return EVP_md5();
    }
    if (n < 2 || m[0] != '{')
        return NULL;
    size_t limit = n < DIGEST_NAME_MAX + 2 ? n : DIGEST_NAME_MAX + 2;
    const unsigned char *close = memchr(m + 1, '}', limit - 1);
    if (close == NULL)
        return NULL;
    *payload = (size_t)(close - m) + 1;
    return digest_by_name((const char *)m + 1, (size_t)(close - m) - 1);
}

static int hmac(const EVP_MD *md, const void *key, size_t keylen, const unsigned char *m, size_t n,
                unsigned char *out, unsigned *outlen)
{
    static const unsigned char no_key; /* OpenSSL wants a pointer even for an empty key */
    if (HMAC(md, keylen > 0 ? key : &no_key, (int)keylen, m, n, out, outlen) == NULL)
        return MPROC_EAUTH;
    return 0;
}

int mproc__auth_challenge(unsigned char out[MPROC__AUTH_MESSAGE_MAX], size_t *len)
{
    static const char prefix[] = MPROC__CHALLENGE "{sha256}";
    size_t n = sizeof prefix - 1;
    memcpy(out, prefix, n);
    size_t got = 0;
    while (got < CHALLENGE_RANDOM_BYTES) {
        ssize_t r = getrandom(out + n + got, CHALLENGE_RANDOM_BYTES - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return mproc__errno(errno);
        }
        got += (size_t)r;
    }
    *len = n + CHALLENGE_RANDOM_BYTES;
    return 0;
}

int mproc__auth_verify(const void *key, size_t keylen, const unsigned char *message, size_t mlen,
                       const unsigned char *answer, size_t alen)
{
    size_t payload;
    const EVP_MD *md = digest_of(answer, alen, &payload);
    if (md == NULL || keylen > INT32_MAX)
        return MPROC_EAUTH;
    unsigned char expected[EVP_MAX_MD_SIZE];
    unsigned expected_len;
    if (hmac(md, key, keylen, message, mlen, expected, &expected_len) != 0)
        return MPROC_EAUTH;
    if (alen - payload != expected_len || CRYPTO_memcmp(expected, answer + payload, expected_len) != 0)
        return MPROC_EAUTH;
    return 0;
}

int mproc__auth_answer_to(const void *key, size_t keylen, const unsigned char *challenge, size_t clen,
                          unsigned char out[MPROC__AUTH_MESSAGE_MAX], size_t *outlen)
{
    size_t prefix = sizeof MPROC__CHALLENGE - 1;
    if (clen < prefix + LEGACY_MESSAGE_LEN || memcmp(challenge, MPROC__CHALLENGE, prefix) != 0 ||
        keylen > INT32_MAX)
        return MPROC_EAUTH;
    const unsigned char *message = challenge + prefix;
    size_t mlen = clen - prefix, payload;
    const EVP_MD *md = digest_of(message, mlen, &payload);
    if (md == NULL)
        return MPROC_EAUTH;
    /* The answer names its digest as the challenge did ("{name}"); a legacy
     * challenge gets the bare MAC. */
    size_t name_part = payload;
    memcpy(out, message, name_part);
    unsigned mac_len;
    if (hmac(md, key, keylen, message, mlen, out + name_part, &mac_len) != 0)
        return MPROC_EAUTH;
    *outlen = name_part + mac_len;
    return 0;
}

/* Receives one handshake message (at most MPROC__AUTH_MESSAGE_MAX bytes). */
static int recv_step(mproc_conn_t *c, unsigned char *buf, size_t *len, const mproc__deadline_t *d)
{
    return mproc__conn_recv_until(c, buf, MPROC__AUTH_MESSAGE_MAX, len, d);
}

int mproc__auth_deliver(mproc_conn_t *c, const void *key, size_t keylen, const mproc__deadline_t *d)
{
    unsigned char challenge[MPROC__AUTH_MESSAGE_MAX], answer[MPROC__AUTH_MESSAGE_MAX];
    size_t clen, alen;
    int r = mproc__auth_challenge(challenge, &clen);
    if (r == 0)
        r = mproc_conn_send(c, challenge, clen);
    if (r == 0)
        r = recv_step(c, answer, &alen, d);
    if (r != 0)
        return r;
    size_t prefix = sizeof MPROC__CHALLENGE - 1;
    int verdict = mproc__auth_verify(key, keylen, challenge + prefix, clen - prefix, answer, alen);
    const char *reply = verdict == 0 ? MPROC__WELCOME : MPROC__FAILURE;
    r = mproc_conn_send(c, reply, strlen(reply));
    return verdict != 0 ? verdict : r;
}

int mproc__auth_answer(mproc_conn_t *c, const void *key, size_t keylen, const mproc__deadline_t *d)
{
    unsigned char challenge[MPROC__AUTH_MESSAGE_MAX], answer[MPROC__AUTH_MESSAGE_MAX];
    size_t clen, alen;
    int r = recv_step(c, challenge, &clen, d);
    if (r != 0)
        return r;
    r = mproc__auth_answer_to(key, keylen, challenge, clen, answer, &alen);
    if (r == 0)
        r = mproc_conn_send(c, answer, alen);
    if (r == 0)
        r = recv_step(c, answer, &alen, d);
    if (r != 0)
        return r;
    return mproc__auth_is_welcome(answer, alen) ? 0 : MPROC_EAUTH;
}

int mproc__auth_is_welcome(const unsigned char *msg, size_t len)
{
    return len == sizeof MPROC__WELCOME - 1 && memcmp(msg, MPROC__WELCOME, len) == 0;
}
