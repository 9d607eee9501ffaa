/* SPDX-License-Identifier: Apache-2.0
 *
 * The reference point of ci/bench's large expect: reads a server's flood (`parley serve smtp
 * --fault flood=N`) until the line "FLOOD-END", then until the greeting's "220 " line, as fast as
 * a C program with one blocking socket and a 64 KiB buffer can: a memchr scan over each read
 * (keeping the last bytes of the one before, so a marker split across two reads is found). With
 * "tls" it does the same over implicit TLS with GnuTLS (`parley serve smtp --implicit-tls`), verifying the server
 * against CA_FILE and SERVER_NAME like Parley does.
 *
 *   flood-reader HOST PORT [tls CA_FILE SERVER_NAME]
 *
 * Prints "bytes=N seconds=S" (connect to the end of the greeting line) and exits 0, or exits 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* "\nFLOOD-END\r\n" in buffer[0, length): memchr for its rarest byte, '-' (the flood's lines
 * are letters and digits), then a comparison around each one found; glibc's memchr is SIMD, its
 * memmem is not. */
static char *find_marker(char *buffer, size_t length) {
    const char *marker = "\nFLOOD-END\r\n";
    char *at = buffer;
    while ((at = memchr(at, '-', (size_t)(buffer + length - at)))) {
        if (at - buffer >= 6 && buffer + length - at >= 6 && memcmp(at - 6, marker, 12) == 0) return at - 6;
        at++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3 && !(argc == 6 && strcmp(argv[3], "tls") == 0)) {
        fprintf(stderr, "usage: flood-reader HOST PORT [tls CA_FILE SERVER_NAME]\n");
        return 2;
    }
    int tls = argc == 6;
    double start = now();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) { perror("connect"); return 1; }
    gnutls_session_t session = NULL;
    gnutls_certificate_credentials_t credentials = NULL;
    if (tls) {
        gnutls_global_init();
        gnutls_certificate_allocate_credentials(&credentials);
        if (gnutls_certificate_set_x509_trust_file(credentials, argv[4], GNUTLS_X509_FMT_PEM) <= 0) return 1;
        gnutls_init(&session, GNUTLS_CLIENT);
        gnutls_set_default_priority(session);
        gnutls_server_name_set(session, GNUTLS_NAME_DNS, argv[5], strlen(argv[5]));
        gnutls_session_set_verify_cert(session, argv[5], 0);
        gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials);
        gnutls_transport_set_int(session, fd);
        int r;
        do { r = gnutls_handshake(session); } while (r < 0 && !gnutls_error_is_fatal(r));
        if (r < 0) { fprintf(stderr, "handshake: %s\n", gnutls_strerror(r)); return 1; }
    }
    /* The first bytes of `buffer` hold the end of the read before. */
    enum { keep = 16, size = 65536 };
    static char buffer[keep + size];
    size_t kept = 0;
    long long bytes = 0;
    int stage = 0; /* 0: looking for the marker, 1: for the greeting line's end */
    for (;;) {
        ssize_t n = tls ? gnutls_record_recv(session, buffer + kept, sizeof buffer - kept) : recv(fd, buffer + kept, sizeof buffer - kept, 0);
        if (tls && (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)) continue;
        if (n <= 0) { fprintf(stderr, "the stream ended at %lld bytes, stage %d\n", bytes, stage); return 1; }
        bytes += n;
        size_t length = kept + (size_t)n;
        if (stage == 0) {
            char *found = find_marker(buffer, length);
            if (found) {
                /* From here on everything is kept: only the greeting follows. */
                stage = 1;
                length = (size_t)(buffer + length - (found + 12));
                memmove(buffer, found + 12, length);
            }
        }
        if (stage == 1) {
            char *greeting = memmem(buffer, length, "220 ", 4);
            if (greeting && memchr(greeting, '\n', (size_t)(buffer + length - greeting))) break;
            if (length > keep + size / 2) { fprintf(stderr, "no greeting after the flood\n"); return 1; }
            kept = length;
            continue;
        }
        kept = length < keep ? length : keep;
        memmove(buffer, buffer + length - kept, kept);
    }
    double seconds = now() - start;
    if (tls) gnutls_bye(session, GNUTLS_SHUT_WR);
    close(fd);
    printf("bytes=%lld seconds=%.6f\n", bytes, seconds);
    return 0;
}
