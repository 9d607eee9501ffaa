#!/usr/bin/env python3
"""The mail client ci/record-check records and replays: Python's smtplib or imapclient (PyPI),
used as their documentation says for a client that wants TLS.

  client.py smtp --port P --ca-file CA --server-name NAME --user U --password-file F [--auth plain|login]
  client.py imap --port P --ca-file CA --server-name NAME --user U --password-file F
  client.py smtps --port P --ca-file CA --user U --password-file F   (implicit TLS, login, NOOP)
  client.py swaks --port P --ca-file CA --server-name NAME --user U --password-file F

swaks (AUTH LOGIN) is started with the password read from the file, so that no command line
(and no transcript that shows one) holds it.

Connects to 127.0.0.1:P (the recording proxy, the server script, or the real server), does
STARTTLS verifying NAME against CA, logs in, and either submits one message (SMTP) or selects
INBOX and fetches the first message's header (IMAP). Exit 0 when all of it worked."""
import argparse
import os
import smtplib
import ssl
import sys
from email.message import EmailMessage


def tls(args):
    context = ssl.create_default_context(cafile=args.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def smtp(args, password):
    with smtplib.SMTP("127.0.0.1", args.port, local_hostname="client.parley.test", timeout=20) as client:
        client.ehlo()
        if not client.has_extn("starttls"):
            sys.exit("the server does not offer STARTTLS")
        client._host = args.server_name  # the name smtplib checks the certificate for
        client.starttls(context=tls(args))
        client.ehlo()
        if args.auth == "login":
            client.user, client.password = args.user, password
            code, reply = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        else:
            client.user, client.password = args.user, password
            code, reply = client.auth("PLAIN", client.auth_plain)
        if code != 235:
            sys.exit(f"AUTH failed: {code} {reply!r}")
        message = EmailMessage()
        message["From"] = f"{args.user}@mail.test"
        message["To"] = f"{args.user}@mail.test"
        message["Subject"] = "parley record-check"
        message.set_content("Sent through the recording proxy by ci/record-check.\n")
        client.send_message(message)
        client.quit()


def smtps(args, password):
    # Implicit TLS (RFC 8314): the certificate is checked for the address connected to.
    with smtplib.SMTP_SSL("127.0.0.1", args.port, local_hostname="client.parley.test", timeout=20, context=tls(args)) as client:
        client.ehlo()
        client.login(args.user, password)
        client.noop()
        client.quit()


def imap(args, password):
    import imapclient

    client = imapclient.IMAPClient("127.0.0.1", port=args.port, ssl=False, timeout=20)
    client._imap.host = args.server_name  # the name imaplib checks the certificate for
    client.starttls(ssl_context=tls(args))
    client.login(args.user, password)
    info = client.select_folder("INBOX", readonly=True)
    if info.get(b"EXISTS", 0) > 0:
        client.fetch([1], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    client.logout()


def swaks(args, password):
    command = ["swaks", "--server", "127.0.0.1", "--port", str(args.port), "--tls", "--tls-verify",
               "--tls-ca-path", args.ca_file, "--tls-sni", args.server_name, "--helo", "client.parley.test",
               "--auth", "LOGIN", "--auth-user", args.user, "--auth-password", password,
               "--from", f"{args.user}@mail.test", "--to", f"{args.user}@mail.test",
               "--header", "Subject: parley record-check (swaks)", "--hide-all"]
    os.execvp("swaks", command)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("protocol", choices=["smtp", "smtps", "imap", "swaks"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--server-name", default="mail.test")
    parser.add_argument("--user", default="parley")
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--auth", choices=["plain", "login"], default="plain")
    args = parser.parse_args()
    with open(args.password_file) as file:
        password = file.read().strip()
    {"smtp": smtp, "smtps": smtps, "imap": imap, "swaks": swaks}[args.protocol](args, password)


if __name__ == "__main__":
    main()
