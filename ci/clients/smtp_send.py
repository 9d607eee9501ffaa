#!/usr/bin/env python3
"""Sends one message with Python's smtplib: STARTTLS (verifying the CA file and the server
name), AUTH, MAIL/RCPT/DATA. Exit 0 when the server accepted it; prints the queue id.

usage: smtp_send.py HOST PORT CA_FILE SERVER_NAME USER PASSWORD FROM TO SUBJECT BODY_FILE
"""
import smtplib
import ssl
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def main():
    if len(sys.argv) != 11:
        sys.exit(__doc__)
    host, port, ca, name, user, password, sender, recipient, subject, body_file = sys.argv[1:]
    context = ssl.create_default_context(cafile=ca)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    # As mail clients write them (Mailpit's clients read the Date header).
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="client.test")
    with open(body_file, encoding="utf-8") as f:
        message.set_content(f.read())
    with smtplib.SMTP(host, int(port), timeout=20) as smtp:
        smtp._host = name  # the name verified in the certificate
        smtp.ehlo("client.test")
        smtp.starttls(context=context)
        code, reply = smtp.ehlo("client.test")
        if b"AUTH" not in reply:
            sys.exit(f"no AUTH offered after STARTTLS: {reply!r}")
        smtp.login(user, password)
        refused = smtp.send_message(message)
        if refused:
            sys.exit(f"recipients refused: {refused}")
        code, reply = smtp.noop()
        print(f"sent {subject!r} to {recipient} over STARTTLS ({smtp.sock.version()}), NOOP {code}")


if __name__ == "__main__":
    main()
