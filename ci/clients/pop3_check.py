#!/usr/bin/env python3
"""Reads a mailbox with Python's poplib: STLS (verifying the CA file and server name), USER/PASS,
STAT, UIDL, TOP, RETR; checks that the message with SUBJECT is there and its body is BODY_FILE's
text byte for byte. Exit 0 when everything matched.

usage: pop3_check.py HOST PORT CA_FILE SERVER_NAME USER PASSWORD SUBJECT BODY_FILE
"""
import poplib
import ssl
import sys
from email import message_from_bytes, policy


def main():
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    host, port, ca, name, user, password, subject, body_file = sys.argv[1:]
    with open(body_file, "rb") as f:
        expected_body = f.read()
    context = ssl.create_default_context(cafile=ca)
    pop = poplib.POP3(host, int(port), timeout=20)
    capabilities = pop.capa()
    if "STLS" not in capabilities:
        sys.exit(f"no STLS in CAPA: {capabilities}")
    pop._host = name
    pop.stls(context=context)
    pop.user(user)
    pop.pass_(password)
    count, size = pop.stat()
    _, listing, _ = pop.uidl()
    uids = [line.split()[1].decode() for line in listing]
    if len(uids) != count or len(set(uids)) != count:
        sys.exit(f"UIDL does not list {count} unique ids: {uids}")
    found = None
    for number in range(1, count + 1):
        _, lines, _ = pop.top(number, 0)
        header = message_from_bytes(b"\r\n".join(lines), policy=policy.default)
        if header["Subject"] == subject:
            found = number
    if found is None:
        sys.exit(f"no message with Subject {subject!r} among {count}")
    _, lines, octets = pop.retr(found)
    raw = b"\r\n".join(lines) + b"\r\n"
    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_content().encode()
    if body.replace(b"\r\n", b"\n") != expected_body.replace(b"\r\n", b"\n"):
        sys.exit(f"body differs:\n{body!r}\nexpected:\n{expected_body!r}")
    if not message["Received"] or "with ESMTPSA" not in message["Received"]:
        sys.exit(f"no Received header naming ESMTPSA: {message['Received']!r}")
    _, top_lines, _ = pop.top(found, 1)
    print(f"POP3: {count} messages, UIDL {uids[found - 1]}, RETR {octets} octets, TOP ok, Received: {message['Received'].splitlines()[0]}")
    pop.quit()


if __name__ == "__main__":
    main()
