/* mproc/connection.h: Pipe, Connection, Listener and Client
 * (multiprocessing.Pipe, multiprocessing.connection). Messages are byte
 * strings, framed and authenticated exactly as Python's
 * multiprocessing.connection does it, so a C program and a Python program can
 * talk: Connection.send_bytes / recv_bytes on the Python side.
 * Include <mproc.h>, not this file. */
#ifndef MPROC_CONNECTION_H
#define MPROC_CONNECTION_H

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A connection is one end of a byte-message channel, always a socket: either
 * kind of mproc_pipe (a Unix socketpair), or a Unix or TCP connection. Like Python's Connection, one thread
 * sends and one thread receives at a time: concurrent senders (or receivers)
 * on one connection need a lock of their own. A connection inherited by a
 * forked child is the same channel in both processes; close it on the side
 * that does not use it. Every descriptor mproc opens is close-on-exec;
 * SIGPIPE never reaches the caller (a vanished peer is MPROC_EPIPE). */
typedef struct mproc_conn mproc_conn_t;
typedef struct mproc_listener mproc_listener_t;

/* The largest message mproc_conn_recv_alloc accepts unless told otherwise. */
#define MPROC_CONN_MAX_MESSAGE_DEFAULT ((size_t)64 << 20)

/* A connected pair: the two ends of a Unix stream socketpair (AF_UNIX,
 * SOCK_STREAM), with Python's frames on the wire either way.
 * duplex 1: both ends send and receive.
 * duplex 0: c1 only receives, c2 only sends, as in Python. The socketpair is
 * shut down in the other direction, so the descriptors say the same: writing
 * to c1's fails with EPIPE, reading c2's gives end of file at once. Unlike
 * Python's Pipe(duplex=False), an os.pipe(), a descriptor can pass from c2
 * to c1 (mproc_conn_send_fd), and fstat calls the ends sockets.
 * 0; MPROC_EINVAL; MPROC_EMFILE; MPROC_ENOMEM. */
MPROC_API int mproc_pipe(mproc_conn_t **c1, mproc_conn_t **c2, int duplex);

/* Sends one message of len bytes (0 is allowed): a 4-byte big-endian length
 * and the bytes (over 0x7fffffff bytes: -1 and an 8-byte length, as Python).
 * Blocks until all of it is handed to the kernel. 0; MPROC_EPERM (a
 * receive-only end); MPROC_EPIPE (the peer is gone); MPROC_EINVAL. */
MPROC_API int mproc_conn_send(mproc_conn_t *c, const void *data, size_t len);

/* Receives one message into buf (cap bytes); *len = its size. 0;
 * MPROC_ETIMEDOUT (nothing complete in time; bytes of a message already
 * read are kept for the next call); MPROC_EOF (the peer closed and nothing is
 * left); MPROC_EMSGSIZE (*len = the size needed; the message stays for the
 * next call); MPROC_EPROTO (the peer closed in the middle of a message, or
 * sent a frame no Python would: the connection is unusable from then on);
 * MPROC_EPERM (a send-only end). */
MPROC_API int mproc_conn_recv(mproc_conn_t *c, void *buf, size_t cap, size_t *len, double timeout);

/* As mproc_conn_recv into a fresh malloc'ed buffer (free() it; a message of
 * 0 bytes still gets a non-NULL buffer). A message larger than the
 * connection's maximum (mproc_conn_set_max_message) is MPROC_EMSGSIZE with
 * *len = its claimed size, before anything is allocated. */
MPROC_API int mproc_conn_recv_alloc(mproc_conn_t *c, void **data, size_t *len, double timeout);

/* The largest message mproc_conn_recv_alloc will allocate for on c
 * (default MPROC_CONN_MAX_MESSAGE_DEFAULT). 0; MPROC_EINVAL (max 0). */
MPROC_API int mproc_conn_set_max_message(mproc_conn_t *c, size_t max);

/* Sends raise no SIGPIPE: each is one sendmsg with MSG_NOSIGNAL, and a
 * vanished peer is MPROC_EPIPE (the guard, on by default, costs no system
 * call). A program that handles SIGPIPE itself may switch that off for c
 * with on = 0: its sends are then plain writes, so a vanished peer raises
 * SIGPIPE under the program's own disposition (its handler runs, or it is
 * ignored) and the send still returns MPROC_EPIPE. on = 1 restores the
 * default. 0; MPROC_EPERM (SIGPIPE still has its default action: switching
 * off would be fatal); MPROC_EINVAL. */
MPROC_API int mproc_conn_set_sigpipe_guard(mproc_conn_t *c, int on);

/* 1 if a receive would not block now (data, end of file or an error is
 * waiting), 0 if nothing came within timeout; MPROC_EPERM on a send-only end. */
MPROC_API int mproc_conn_poll(mproc_conn_t *c, double timeout);

/* The descriptor, for poll/epoll loops (readable: call mproc_conn_recv).
 * mproc never reads ahead of the message asked for, so "readable" is exact.
 * Do not read or close it directly. -1 if c is NULL. */
MPROC_API int mproc_conn_fileno(mproc_conn_t *c);

/* Closes the descriptor and frees c. 0; MPROC_EINVAL (c NULL). */
MPROC_API int mproc_conn_close(mproc_conn_t *c);

/* Hands a copy of the descriptor fd to the peer (SCM_RIGHTS), over a Unix
 * connection or a pipe (duplex, or the sending end of a one-way pipe); the
 * caller keeps its own fd. On the wire this
 * is what Python's multiprocessing.reduction.send_handle sends (one byte and
 * the descriptor, outside the message framing), so Python's recv_handle
 * can take it. 0; MPROC_EINVAL (not a Unix socket, bad fd); MPROC_EPERM;
 * MPROC_EPIPE. */
MPROC_API int mproc_conn_send_fd(mproc_conn_t *c, int fd);

/* Receives a descriptor sent by mproc_conn_send_fd (or Python's send_handle);
 * *fd is a new close-on-exec descriptor, the caller's to close. Call it where
 * the peer sent a descriptor, not a message. 0; MPROC_ETIMEDOUT; MPROC_EOF;
 * MPROC_EPROTO (a byte arrived without a descriptor); MPROC_EINVAL;
 * MPROC_EPERM (a send-only end). */
MPROC_API int mproc_conn_recv_fd(mproc_conn_t *c, int *fd, double timeout);

/* ---- Listener and Client -------------------------------------------------
 * Address: a path containing '/' (Unix socket), "@name" (abstract Unix
 * socket, Python's "\0name"), "host:port" or "[v6]:port" (TCP; port 0 picks a
 * free one; an empty host listens on every IPv4 address).
 *
 * authkey (keylen bytes): both sides prove they know it with Python's
 * handshake: the listener sends a challenge ("{sha256}" and 40 random bytes)
 * and checks the HMAC in the answer, then answers the client's challenge.
 * Legacy peers (Python 3.11 and older: 20-byte challenges, raw HMAC-MD5
 * answers) are recognised and answered in their form. authkey NULL: no
 * handshake. */

/* Listens on address. address NULL: a fresh Unix socket in a new private
 * (0700) directory, both removed at close. A stale socket file left by a dead
 * listener is replaced; a live one is MPROC_EEXIST, as is a TCP port in use.
 * 0; MPROC_EINVAL (malformed address, path too long); MPROC_EEXIST;
 * MPROC_EACCES; MPROC_ENOENT (no such directory, unknown host). */
MPROC_API int mproc_listener_create(mproc_listener_t **l, const char *address, const void *authkey,
                                    size_t keylen);

/* The address a client connects to: the path, "@name", or "host:port" with
 * the real port ("[v6]:port" for IPv6). Lives as long as l. */
MPROC_API const char *mproc_listener_address(mproc_listener_t *l);

/* Waits for a client and, with an authkey, runs the handshake (bounded by
 * mproc_listener_set_handshake_timeout, so a silent client cannot hold the
 * listener). The handshakes of several pending clients progress side by side
 * (at most 64 at once; the oldest gives way), the first to finish is
 * returned, and the call returns within timeout: a client still in its
 * handshake then stays pending for the next call, so timeout 0 returns at
 * once with what is ready. 0; MPROC_ETIMEDOUT; MPROC_EAUTH (the client failed the
 * handshake, sent garbage or went silent: it is dropped, call accept again);
 * MPROC_EMFILE. */
MPROC_API int mproc_listener_accept(mproc_listener_t *l, mproc_conn_t **c, double timeout);

/* The longest a client may take over its handshake (default 10 s). 0;
 * MPROC_EINVAL (NaN or not positive). */
MPROC_API int mproc_listener_set_handshake_timeout(mproc_listener_t *l, double timeout);

/* Stops listening and frees l; removes the socket file (and the private
 * directory) if this process made them. 0; MPROC_EINVAL. */
MPROC_API int mproc_listener_close(mproc_listener_t *l);

/* Connects to a listener at address and, with an authkey, runs the handshake.
 * Waits as long as the server takes. 0; MPROC_EINVAL; MPROC_ENOENT (no socket
 * at that path, unknown host); -ECONNREFUSED (nobody listening); MPROC_EAUTH
 * (wrong key on either side); MPROC_EPROTO; MPROC_EOF (dropped by the server). */
MPROC_API int mproc_client(mproc_conn_t **c, const char *address, const void *authkey, size_t keylen);

/* mproc_client with a bound on connecting and the handshake: MPROC_ETIMEDOUT. */
MPROC_API int mproc_client_timeout(mproc_conn_t **c, const char *address, const void *authkey,
                                   size_t keylen, double timeout);

#ifdef __cplusplus
}
#endif

#endif
