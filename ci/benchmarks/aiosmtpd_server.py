# SPDX-License-Identifier: Apache-2.0
"""An aiosmtpd server with STARTTLS (the test PKI's server certificate), for ci/bench's peer
comparison: Python + OpenSSL, a server that does not penalize Python's smtplib. Prints
'listening on 127.0.0.1:PORT' and serves until killed.

usage: aiosmtpd_server.py CERT KEY"""
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def main():
    cert, key = sys.argv[1:3]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=context, server_hostname="mail.test")
    controller.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


main()
