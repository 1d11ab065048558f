/* Internals shared by the connection, listener, handshake and address code
 * (and the Manager, which speaks over connections). Not installed. */
#ifndef MPROC_CONN_INTERNAL_H
#define MPROC_CONN_INTERNAL_H

#include "internal.h"

#include <sys/socket.h>
#include <sys/un.h>

enum {
    MPROC__CONN_RECV = 1,   /* may receive */
    MPROC__CONN_SEND = 2,   /* may send */
    MPROC__CONN_SOCKET = 4, /* a socket (else some other descriptor) */
    MPROC__CONN_UNIX = 8,   /* an AF_UNIX socket: descriptors can pass */
};

/* Python's frame header: a 4-byte big-endian signed length; -1 then an 8-byte
 * length for messages over 0x7fffffff bytes. */
#define MPROC__FRAME_SHORT_MAX 0x7fffffffu
#define MPROC__FRAME_HEADER_MAX 12

struct mproc_conn {
    int fd;
    unsigned flags;
    size_t max_message;
    /* Receive state of the message now arriving. Everything read of it stays
     * here between calls, so a timeout or a too-small buffer loses nothing. */
    unsigned char header[MPROC__FRAME_HEADER_MAX];
    unsigned header_got;
    int length_known;
    uint64_t length;
    unsigned char *partial; /* room for the whole body; its first partial_got bytes arrived */
    size_t partial_got;
    int broken; /* MPROC_EPROTO once the stream lost its framing */
    int sigpipe_unguarded; /* sends leave SIGPIPE to the program (plain writev) */
};

/* Wraps an open, blocking, close-on-exec descriptor. 0 or MPROC_ENOMEM
 * (fd is then closed). */
int mproc__conn_wrap(mproc_conn_t **c, int fd, unsigned flags);

/* mproc_conn_recv against a deadline already running. */
int mproc__conn_recv_until(mproc_conn_t *c, void *buf, size_t cap, size_t *len,
                           const mproc__deadline_t *d);

/* Sends one framed message on fd, all of it: how is MPROC__SEND_SOCKET
 * (sendmsg with MSG_NOSIGNAL: a vanished peer is only MPROC_EPIPE) or
 * MPROC__SEND_PLAIN (writev: SIGPIPE follows the program's own disposition,
 * for a connection whose guard the program switched off). 0, MPROC_EPIPE, ... */
enum { MPROC__SEND_SOCKET, MPROC__SEND_PLAIN };
int mproc__send_frame(int fd, int how, const void *data, size_t len);

/* Writes the bytes of one frame for a message of len bytes into header;
 * returns the header's size (4 or 12). */
size_t mproc__frame_header(unsigned char *header, size_t len);

/* ---- the authentication handshake (auth.c) ----
 * The steps are exposed on their own so an event loop can run them without
 * blocking; mproc__auth_deliver / _answer run them over a connection. */
#define MPROC__AUTH_MESSAGE_MAX 256 /* every handshake message is read with this limit */
#define MPROC__CHALLENGE "#CHALLENGE#"
#define MPROC__WELCOME "#WELCOME#"
#define MPROC__FAILURE "#FAILURE#"

/* Builds the challenge to send: "#CHALLENGE#{sha256}" and 40 random bytes;
 * *len its size, the digest message starts after "#CHALLENGE#".
 * 0 or an error of getrandom. */
int mproc__auth_challenge(unsigned char out[MPROC__AUTH_MESSAGE_MAX], size_t *len);
/* Checks a peer's answer to the message (the challenge without
 * "#CHALLENGE#"), in either form. 0 or MPROC_EAUTH. */
int mproc__auth_verify(const void *key, size_t keylen, const unsigned char *message, size_t mlen,
                       const unsigned char *answer, size_t alen);
/* The answer to a received challenge (with its "#CHALLENGE#"): the legacy
 * raw HMAC-MD5 for a 20-byte message, else "{digest}" and the HMAC.
 * 0 or MPROC_EAUTH (not a challenge, or an unknown digest). */
int mproc__auth_answer_to(const void *key, size_t keylen, const unsigned char *challenge, size_t clen,
                          unsigned char out[MPROC__AUTH_MESSAGE_MAX], size_t *outlen);

/* Whether a handshake message is "#WELCOME#". */
int mproc__auth_is_welcome(const unsigned char *msg, size_t len);

/* The challenger's side over c: challenge, check the answer, send WELCOME or
 * FAILURE. 0; MPROC_EAUTH; or a connection error (MPROC_EOF, MPROC_EPROTO,
 * MPROC_ETIMEDOUT, MPROC_EPIPE, MPROC_EMSGSIZE: an over-long message). */
int mproc__auth_deliver(mproc_conn_t *c, const void *key, size_t keylen, const mproc__deadline_t *d);
/* The answerer's side over c. Same codes. */
int mproc__auth_answer(mproc_conn_t *c, const void *key, size_t keylen, const mproc__deadline_t *d);

/* ---- addresses (address.c) ---- */
typedef struct {
    int is_unix;
    struct sockaddr_un un; /* is_unix */
    socklen_t un_len;
    int abstract;          /* "@name" */
    char host[256];        /* TCP: without brackets; "" for every address */
    char port[8];
} mproc__address_t;

/* Parses an address (see connection.h). 0 or MPROC_EINVAL. */
int mproc__address_parse(const char *text, mproc__address_t *a);
/* Resolves a TCP address (numeric or a host name). 0; MPROC_ENOENT (unknown
 * host); MPROC_ENOMEM. Free *res with freeaddrinfo. */
struct addrinfo;
int mproc__address_resolve(const mproc__address_t *a, int passive, struct addrinfo **res);
/* The text form of a bound socket: "host:port", "[v6]:port", a path or
 * "@name". A malloc'ed string or NULL. */
char *mproc__address_of_socket(int fd);

/* ---- for the Manager ---- */
/* The listening descriptor of l (still owned by l). */
int mproc__listener_fd(mproc_listener_t *l);
/* Frees c but keeps its descriptor open, handing it to the caller. */
int mproc__conn_release_fd(mproc_conn_t *c);

#endif
