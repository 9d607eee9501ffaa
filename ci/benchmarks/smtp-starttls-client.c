/* SPDX-License-Identifier: Apache-2.0
 *
 * The reference point of ci/bench: the SMTP STARTTLS session of the benchmark done directly with
 * GnuTLS and blocking sockets, in THREADS threads until SESSIONS sessions are done. It verifies the
 * server against CA_FILE and SERVER_NAME like Parley does.
 *
 *   smtp-starttls-client HOST PORT CA_FILE SERVER_NAME SESSIONS THREADS [quickack]
 *
 * Prints "sessions=N seconds=S p50_ms=.. p99_ms=.. errors=E".
 */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *ca_file, *server_name;
static int port, quickack;
static atomic_int remaining, errors;
static gnutls_certificate_credentials_t credentials;
static double *latencies;
static atomic_int latency_count;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Reads until a line "NNN " (the last line of an SMTP reply) has arrived. */
static int read_reply(int fd, gnutls_session_t tls, char *buffer, size_t size) {
    size_t used = 0;
    for (;;) {
        ssize_t n = tls ? gnutls_record_recv(tls, buffer + used, size - used - 1)
                        : recv(fd, buffer + used, size - used - 1, 0);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;
        if (n <= 0) return -1;
        if (quickack) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one); }
        used += (size_t)n;
        buffer[used] = 0;
        /* the last complete line */
        char *end = buffer + used;
        if (used >= 2 && end[-1] == '\n') {
            char *line = end - 2;
            while (line > buffer && line[-1] != '\n') line--;
            if (strlen(line) >= 4 && line[3] == ' ') return atoi(line);
        }
        if (used + 1 >= size) return -1;
    }
}

/* With "quickack", TCP_QUICKACK is set after each read and after each command sent, as Parley
 * does after each flush: sending a command right after a reply puts Linux into delayed-ACK mode,
 * and a server with Nagle on (Postfix) then holds the second half of its answer 40 ms. */
static int send_all(int fd, gnutls_session_t tls, const char *text) {
    size_t length = strlen(text);
    ssize_t n = tls ? gnutls_record_send(tls, text, length) : send(fd, text, length, 0);
    if (quickack) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one); }
    return n == (ssize_t)length ? 0 : -1;
}

static int session(void) {
    char buffer[8192];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &address.sin_addr);
    int ok = -1;
    gnutls_session_t tls = NULL;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) goto done;
    if (read_reply(fd, NULL, buffer, sizeof buffer) != 220) goto done;
    if (send_all(fd, NULL, "EHLO bench.test\r\n") || read_reply(fd, NULL, buffer, sizeof buffer) != 250) goto done;
    if (send_all(fd, NULL, "STARTTLS\r\n") || read_reply(fd, NULL, buffer, sizeof buffer) != 220) goto done;
    gnutls_init(&tls, GNUTLS_CLIENT);
    gnutls_set_default_priority(tls);
    gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, credentials);
    gnutls_server_name_set(tls, GNUTLS_NAME_DNS, server_name, strlen(server_name));
    gnutls_session_set_verify_cert(tls, server_name, 0);
    gnutls_transport_set_int(tls, fd);
    int rc;
    do { rc = gnutls_handshake(tls); } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0) goto done;
    if (send_all(fd, tls, "EHLO bench.test\r\n") || read_reply(fd, tls, buffer, sizeof buffer) != 250) goto done;
    if (send_all(fd, tls, "QUIT\r\n") || read_reply(fd, tls, buffer, sizeof buffer) != 221) goto done;
    gnutls_bye(tls, GNUTLS_SHUT_WR);
    ok = 0;
done:
    if (tls) gnutls_deinit(tls);
    close(fd);
    return ok;
}

static void *worker(void *unused) {
    (void)unused;
    while (atomic_fetch_sub(&remaining, 1) > 0) {
        double start = now();
        if (session() != 0) atomic_fetch_add(&errors, 1);
        latencies[atomic_fetch_add(&latency_count, 1)] = (now() - start) * 1000;
    }
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s HOST PORT CA_FILE SERVER_NAME SESSIONS THREADS [quickack]\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    ca_file = argv[3];
    server_name = argv[4];
    int sessions = atoi(argv[5]), threads = atoi(argv[6]);
    quickack = argc > 7 && strcmp(argv[7], "quickack") == 0;
    gnutls_certificate_allocate_credentials(&credentials);
    if (gnutls_certificate_set_x509_trust_file(credentials, ca_file, GNUTLS_X509_FMT_PEM) <= 0) {
        fprintf(stderr, "cannot load %s\n", ca_file);
        return 1;
    }
    latencies = calloc((size_t)sessions, sizeof *latencies);
    atomic_store(&remaining, sessions);
    pthread_t *pool = calloc((size_t)threads, sizeof *pool);
    double start = now();
    for (int i = 0; i < threads; i++) pthread_create(&pool[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++) pthread_join(pool[i], NULL);
    double seconds = now() - start;
    int count = atomic_load(&latency_count);
    qsort(latencies, (size_t)count, sizeof *latencies, compare);
    printf("sessions=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f errors=%d\n", count, seconds,
           latencies[count / 2], latencies[(int)(count * 0.99) < count ? (int)(count * 0.99) : count - 1],
           atomic_load(&errors));
    return 0;
}
