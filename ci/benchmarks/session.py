# SPDX-License-Identifier: Apache-2.0
"""The bench session that ci/bench and ci/bench-ab run: connect, greeting, EHLO, STARTTLS with
verification against the test CA, EHLO, QUIT."""

import os


def write_session(path, host, port, name, ca, extra=""):
    """Writes the session scenario to `path` (with `extra` steps appended) and returns the path."""
    with open(path, "w") as f:
        f.write(f"""name: bench session
timeouts: {{connect: 30s, expect: 30s, handshake: 30s}}
steps:
  - connect: {{host: {host}, port: {port}}}
  - expect: '^220 [^\\r\\n]*\\r\\n'
  - send: {{line: EHLO bench.test}}
  - expect: '^250 [^\\r\\n]*\\r\\n'
  - starttls: {{ca-file: {ca}, server-name: {name}}}
  - send: {{line: EHLO bench.test}}
  - expect: '^250 [^\\r\\n]*\\r\\n'
  - send: {{line: QUIT}}
  - expect: '^221 '
{extra}""")
    return path
