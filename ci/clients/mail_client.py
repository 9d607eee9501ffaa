#!/usr/bin/env python3
"""A small mail client on Python's smtplib, imaplib and poplib, for `parley test-client`.

Used right (no flag) it does what the RFCs ask of a client that requires TLS: STARTTLS (STLS)
or give up, verify the certificate and the host name against CA_FILE, ask for the capabilities
again under TLS, log in only under TLS, then send one message (SMTP) or look at INBOX (IMAP,
POP3) and quit. Exit 0 when all of that worked, 2 when it gave up as it should, 1 on an error.

Each flag makes it wrong in one way, so that every client case has a client that fails it:
  --opportunistic    go on in plain text when STARTTLS is missing or refused (and under PREAUTH)
  --no-verify        accept any certificate
  --auth-first       log in before STARTTLS
  --no-capa-again    after TLS, go on without asking for the capabilities again
  --keep-buffer      keep the plaintext read after the go-ahead and take it as the next replies
  --old-tls          offer TLS 1.0 and 1.1 too

usage: mail_client.py smtp|imap|pop3 HOST PORT CA_FILE [FLAG ...]
"""
import imaplib
import poplib
import smtplib
import socket
import ssl
import sys
import time

USER, PASSWORD = "alice", "secret"
MESSAGE = "From: alice@client.test\r\nTo: bob@mail.test\r\nSubject: parley test-client\r\n\r\nhello\r\n"


class GiveUp(Exception):
    """The client refuses to go on, as it must."""


def context(flags):
    if "--no-verify" in flags:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context(cafile=CA)
    if "--old-tls" in flags:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


def smtp(host, port, flags):
    if "--keep-buffer" in flags:
        return raw_after_go_ahead(host, port, flags, b"EHLO client.test\r\n", b"STARTTLS\r\n", smtp_raw_rest)
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=20) as s:
        s.ehlo()
        if "--auth-first" in flags:
            s.login(USER, PASSWORD)
        if not s.has_extn("starttls"):
            if "--opportunistic" not in flags:
                s.quit()
                raise GiveUp("the server does not offer STARTTLS")
        else:
            try:
                s.starttls(context=context(flags))
            except smtplib.SMTPResponseException as error:
                if "--opportunistic" not in flags:
                    s.quit()
                    raise GiveUp(f"STARTTLS refused: {error.smtp_code} {error.smtp_error!r}")
            else:
                if "--no-capa-again" in flags:
                    # As if the capabilities learnt in plain text still held.
                    code, reply = s.docmd("MAIL", "FROM:<alice@client.test>")
                    s.quit()
                    return
                s.ehlo()
        if "--auth-first" not in flags and s.has_extn("auth"):
            s.login(USER, PASSWORD)
        s.sendmail("alice@client.test", ["bob@mail.test"], MESSAGE)
        s.quit()


def imap(host, port, flags):
    if "--keep-buffer" in flags:
        return raw_after_go_ahead(host, port, flags, b"a1 CAPABILITY\r\n", b"a2 STARTTLS\r\n", imap_raw_rest)
    m = imaplib.IMAP4(host, port, timeout=20)
    try:
        if "--auth-first" in flags:
            m.login(USER, PASSWORD)
        if m.state == "AUTH" and "--auth-first" not in flags:
            # PREAUTH: the session is authenticated and STARTTLS is no longer allowed.
            if "--opportunistic" not in flags:
                m.logout()
                raise GiveUp("PREAUTH greeting: no TLS is possible")
        elif "STARTTLS" not in m.capabilities:
            if "--opportunistic" not in flags:
                m.logout()
                raise GiveUp("the server does not offer STARTTLS")
        else:
            if "--no-capa-again" in flags:
                m._get_capabilities = lambda: None
            try:
                m.starttls(ssl_context=context(flags))
            except imaplib.IMAP4.error as error:
                if "--opportunistic" not in flags:
                    m.logout()
                    raise GiveUp(f"STARTTLS refused: {error}")
        if m.state != "AUTH" and "--auth-first" not in flags:
            m.login(USER, PASSWORD)
        m.select("INBOX")
        m.logout()
    except BaseException:
        try:
            m.shutdown()
        except OSError:
            pass
        raise


def pop3(host, port, flags):
    if "--keep-buffer" in flags:
        return raw_after_go_ahead(host, port, flags, b"CAPA\r\n", b"STLS\r\n", pop3_raw_rest)
    p = poplib.POP3(host, port, timeout=20)
    if "--auth-first" in flags:
        p.user(USER)
        p.pass_(PASSWORD)
    try:
        caps = p.capa()
    except poplib.error_proto:
        caps = {}
    if "STLS" not in caps:
        if "--opportunistic" not in flags:
            p.quit()
            raise GiveUp("the server does not offer STLS")
    else:
        try:
            p.stls(context=context(flags))
        except poplib.error_proto as error:
            if "--opportunistic" not in flags:
                p.quit()
                raise GiveUp(f"STLS refused: {error}")
        else:
            # poplib does not ask again by itself (RFC 2595 §4 says the client SHOULD).
            if "--no-capa-again" not in flags:
                p.capa()
    if "--auth-first" not in flags:
        p.user(USER)
        p.pass_(PASSWORD)
    p.stat()
    p.quit()


def raw_after_go_ahead(host, port, flags, capability, starttls, rest):
    """A client that reads what follows the go-ahead with it and keeps it: after the handshake
    it takes those bytes as the server's next replies (the response-injection fault)."""
    sock = socket.create_connection((host, port), timeout=20)
    sock.recv(4096)  # greeting
    sock.sendall(capability)
    time.sleep(0.2)
    sock.recv(4096)
    sock.sendall(starttls)
    time.sleep(0.3)
    buffered = sock.recv(4096)
    first, _, kept = buffered.partition(b"\r\n")
    tls = context(flags).wrap_socket(sock, server_hostname=host)
    rest(tls, kept)
    tls.close()


def replies(tls, kept):
    """Reply lines: the kept bytes first, then what arrives under TLS."""
    pending = kept
    while True:
        while b"\r\n" not in pending:
            data = tls.recv(4096)
            if not data:
                return
            pending += data
        line, _, pending = pending.partition(b"\r\n")
        yield line


def smtp_raw_rest(tls, kept):
    lines = replies(tls, kept)
    tls.sendall(b"EHLO client.test\r\n")
    for line in lines:
        if line[3:4] == b" ":
            break
    tls.sendall(b"MAIL FROM:<alice@client.test>\r\n")
    next(lines, None)
    tls.sendall(b"QUIT\r\n")
    next(lines, None)


def imap_raw_rest(tls, kept):
    lines = replies(tls, kept)
    tls.sendall(b"a3 CAPABILITY\r\n")
    for line in lines:
        if line.startswith(b"* BYE"):
            return  # the server (it seems) is leaving
        if line.startswith(b"a3 "):
            break
    tls.sendall(b"a4 LOGOUT\r\n")
    for line in lines:
        if line.startswith(b"a4 "):
            break


def pop3_raw_rest(tls, kept):
    lines = replies(tls, kept)
    tls.sendall(b"CAPA\r\n")
    for line in lines:
        if line == b".":
            break
    tls.sendall(b"USER alice\r\n")
    next(lines, None)
    tls.sendall(b"QUIT\r\n")
    next(lines, None)


def main():
    global CA
    if len(sys.argv) < 5 or sys.argv[1] not in ("smtp", "imap", "pop3"):
        sys.exit(__doc__)
    protocol, host, port, CA = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    flags = sys.argv[5:]
    try:
        {"smtp": smtp, "imap": imap, "pop3": pop3}[protocol](host, port, flags)
    except GiveUp as reason:
        print(f"mail_client: gave up: {reason}", file=sys.stderr)
        sys.exit(2)
    except (OSError, smtplib.SMTPException, imaplib.IMAP4.error, poplib.error_proto, ssl.SSLError) as error:
        print(f"mail_client: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
