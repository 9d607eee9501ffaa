#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A real IMAP client (imapclient, `pip install imapclient`) against a Parley mail server.

Usage: imap_check.py HOST PORT USER PASSWORD CAFILE SUBJECT

STARTTLS verifying CAFILE (the server name checked is mail.test), LOGIN, SELECT INBOX, SEARCH by
SUBJECT (the newest match is used), FETCH its body (BODY.PEEK[] and RFC822, which must agree) and
print it, STORE +FLAGS \\Flagged, APPEND a message, CREATE a folder and COPY to it, STORE \\Deleted
and EXPUNGE, IDLE while a second connection APPENDs (EXISTS must arrive), LOGOUT. Exits non-zero
with a message on the first mismatch.
"""
import ssl
import sys
import threading
import time
import uuid

from imapclient import IMAPClient

SERVER_NAME = "mail.test"


def fail(message):
    print(f"imap_check: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def connect(host, port, cafile):
    context = ssl.create_default_context(cafile=cafile)
    client = IMAPClient(host, port=port, ssl=False, timeout=30)
    # imapclient checks the host it connected to; verify the certificate for mail.test instead.
    client._imap.host = SERVER_NAME
    client.starttls(context)
    check(client._imap.sock.server_hostname == SERVER_NAME, "TLS server name")
    return client


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, user, password, cafile, subject = sys.argv[1:]
    port = int(port)

    client = connect(host, port, cafile)
    check(b"STARTTLS" not in client.capabilities(), "STARTTLS still offered under TLS")
    client.login(user, password)
    print(f"logged in as {user}; capabilities: {b' '.join(client.capabilities()).decode()}")
    check(client.has_capability("IDLE"), "no IDLE capability")

    selected = client.select_folder("INBOX")
    print(f"INBOX: {selected[b'EXISTS']} messages, UIDVALIDITY {selected[b'UIDVALIDITY']}")

    uids = client.search(["SUBJECT", subject])
    check(uids, f"SEARCH SUBJECT {subject!r} found nothing")
    uid = max(uids)
    print(f"SEARCH SUBJECT {subject!r}: {uids}")

    data = client.fetch([uid], ["BODY.PEEK[]", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "FLAGS"])[uid]
    body = data[b"BODY[]"]
    check(len(body) == data[b"RFC822.SIZE"], "RFC822.SIZE differs from the BODY[] length")
    envelope = data[b"ENVELOPE"]
    check(
        subject.encode() in (envelope.subject or b""),
        f"ENVELOPE subject {envelope.subject!r} lacks {subject!r}",
    )
    print(f"ENVELOPE: subject={envelope.subject!r} from={envelope.from_}")
    print(f"BODYSTRUCTURE: {data[b'BODYSTRUCTURE']}")
    rfc822 = client.fetch([uid], ["RFC822"])[uid][b"RFC822"]
    check(rfc822 == body, "RFC822 differs from BODY.PEEK[]")
    check(b"\\Seen" in client.get_flags([uid])[uid], "RFC822 did not set \\Seen")
    print("---- message ----")
    sys.stdout.write(body.decode("utf-8", "replace"))
    print("---- end ----")

    client.add_flags([uid], [b"\\Flagged"])
    check(b"\\Flagged" in client.get_flags([uid])[uid], "STORE +FLAGS \\Flagged did not stick")

    marker = uuid.uuid4().hex
    appended = (
        f"From: imap_check <check@mail.test>\r\nTo: {user}@mail.test\r\nSubject: appended {marker}\r\n\r\n"
        "Appended by imap_check.\r\n"
    ).encode()
    result = client.append("INBOX", appended, flags=[b"\\Draft"])
    check(b"APPENDUID" in result, f"APPEND without APPENDUID: {result!r}")
    new_uids = client.search(["SUBJECT", marker])
    check(len(new_uids) == 1, f"the appended message is not found: {new_uids}")
    check(client.fetch(new_uids, ["BODY.PEEK[]"])[new_uids[0]][b"BODY[]"] == appended, "APPEND changed the bytes")

    folder = f"Check-{marker[:8]}"
    client.create_folder(folder)
    check(any(name == folder for _, _, name in client.list_folders()), f"LIST lacks {folder}")
    client.copy(new_uids, folder)
    check(client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"] == 1, "COPY did not reach the folder")

    client.delete_messages(new_uids)
    expunged = client.expunge()
    print(f"EXPUNGE: {expunged}")
    check(client.search(["SUBJECT", marker]) == [], "EXPUNGE left the appended message")

    # IDLE while a second connection appends.
    def append_later():
        time.sleep(0.5)
        other = connect(host, port, cafile)
        other.login(user, password)
        other.append("INBOX", f"Subject: idle {marker}\r\n\r\nwake up\r\n".encode())
        other.logout()

    thread = threading.Thread(target=append_later)
    client.idle()
    thread.start()
    responses = client.idle_check(timeout=10)
    client.idle_done()
    thread.join()
    print(f"IDLE: {responses}")
    check(any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses), f"IDLE saw no EXISTS: {responses!r}")

    client.select_folder("INBOX")
    client.delete_messages(client.search(["SUBJECT", f"idle {marker}"]))
    client.expunge()
    client.delete_folder(folder)
    client.logout()
    print("imap_check: OK")


if __name__ == "__main__":
    main()
