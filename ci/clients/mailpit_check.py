#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks a Mailpit-compatible HTTP API (`parley serve all`, or Mailpit itself) with a real
Mailpit client: the `mailpit-api-client` package from PyPI (`pip install mailpit-api-client`)
for listing, fetching a message and its headers, and plain HTTP calls shaped as Mailpit's API
documentation shows them (JSON bodies) for the raw source, search, read state and delete.

Usage: ci/clients/mailpit_check.py BASE_URL SUBJECT
  BASE_URL  the API's base, such as http://127.0.0.1:8025
  SUBJECT   the subject of a message already delivered (over SMTP, say)

It finds the message with the subject, fetches it, its headers and its raw source (which must
contain the subject), searches `subject:"SUBJECT"`, marks it unread and read again, deletes it
by ID and checks it is gone and the other messages stay. Exit status 0 when all agree, 1 with a
message saying what did not, 2 on bad usage. Without mailpit-api-client installed, the client's
part is done with plain HTTP calls and the output says so.
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

try:
    import mailpit.client.api as mailpit_api  # mailpit-api-client
except ImportError:  # pragma: no cover - depends on the machine
    mailpit_api = None


class Mismatch(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def http(base, method, path, body=None, query=None):
    """One request; returns (status, content type, body bytes)."""
    url = base.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def get_json(base, path, query=None):
    status, content_type, body = http(base, "GET", path, query=query)
    check(status == 200, f"GET {path}: status {status}: {body[:200]!r}")
    check(content_type.startswith("application/json"), f"GET {path}: content type {content_type!r}")
    return json.loads(body)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: mailpit_check.py BASE_URL SUBJECT", file=sys.stderr)
        return 2
    base, subject = argv[1].rstrip("/"), argv[2]
    steps = []

    # 1. List, with the client when it is installed.
    if mailpit_api is not None:
        client = mailpit_api.API(base, timeout=10)
        listing = client.get_messages()
        check(listing.total >= 1, f"the list is empty (total {listing.total})")
        found = [m for m in listing.messages if m.subject == subject]
        check(found, f"no message with subject {subject!r} among {[m.subject for m in listing.messages]}")
        message_id = found[0].id
        steps.append(f"mailpit-api-client get_messages: {listing.total} messages, {subject!r} is {message_id}")
    else:
        listing = get_json(base, "/api/v1/messages")
        found = [m for m in listing["messages"] if m["Subject"] == subject]
        check(found, f"no message with subject {subject!r}")
        message_id = found[0]["ID"]
        steps.append(f"(mailpit-api-client not installed) GET /api/v1/messages: {subject!r} is {message_id}")
    summary = get_json(base, "/api/v1/messages")
    for key in ["total", "unread", "count", "messages_count", "start", "tags", "messages"]:
        check(key in summary, f"the list has no {key!r}")
    entry = next(m for m in summary["messages"] if m["ID"] == message_id)
    for key in ["ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "Created", "Tags", "Size",
                "Attachments", "Snippet"]:
        check(key in entry, f"the list entry has no {key!r}")
    check(set(entry["From"]) >= {"Name", "Address"}, f"From is not an address: {entry['From']!r}")

    # 2. The message, its headers and raw source.
    if mailpit_api is not None:
        message = client.get_message(message_id)
        check(message.subject == subject, f"get_message subject {message.subject!r}")
        check(message.date is not None, "get_message has no Date")
        headers = client.get_message_headers(message_id)
        check(any(subject in value for value in headers.additional.get("Subject", [])),
              f"get_message_headers has no Subject {subject!r}")
        steps.append(f"mailpit-api-client get_message and get_message_headers: from {message.from_}")
    message = get_json(base, f"/api/v1/message/{message_id}")
    check(message["Subject"] == subject, f"message subject {message['Subject']!r}")
    for key in ["ReturnPath", "Date", "Text", "HTML", "Inline", "Attachments"]:
        check(key in message, f"the message has no {key!r}")
    headers = get_json(base, f"/api/v1/message/{message_id}/headers")
    check(subject in headers.get("Subject", [""])[0], f"headers Subject {headers.get('Subject')!r}")
    status, content_type, raw = http(base, "GET", f"/api/v1/message/{message_id}/raw")
    check(status == 200 and content_type.startswith("text/plain"), f"raw: status {status}, type {content_type!r}")
    check(subject.encode() in raw, "the raw source does not contain the subject")
    steps.append(f"message, headers ({len(headers)} names), raw ({len(raw)} bytes)")
    for attachment in message["Attachments"]:
        status, _, part = http(base, "GET", f"/api/v1/message/{message_id}/part/{attachment['PartID']}")
        check(status == 200 and len(part) == attachment["Size"],
              f"part {attachment['PartID']}: status {status}, {len(part)} bytes, listed {attachment['Size']}")
        steps.append(f"part {attachment['PartID']} ({attachment['FileName']}, {len(part)} bytes)")

    # 3. Search.
    query = f'subject:"{subject}"'
    result = get_json(base, "/api/v1/search", {"query": query})
    check(message_id in [m["ID"] for m in result["messages"]], f"search {query!r} did not find it")
    status, _, _ = http(base, "GET", "/api/v1/search")
    check(status == 400, f"a search without a query answered {status}, not 400")
    steps.append(f"search {query!r}: {result['messages_count']} found")

    # 4. Read state (opening marked it read; unread, then read again).
    check(next(m for m in get_json(base, "/api/v1/messages")["messages"] if m["ID"] == message_id)["Read"],
          "opening the message did not mark it read")
    for read in [False, True]:
        status, _, body = http(base, "PUT", "/api/v1/messages", {"IDs": [message_id], "Read": read})
        check(status == 200 and body == b"ok", f"PUT Read={read}: status {status}: {body[:100]!r}")
        state = next(m for m in get_json(base, "/api/v1/messages")["messages"] if m["ID"] == message_id)["Read"]
        check(state == read, f"after PUT Read={read} the list says Read={state}")
    steps.append("read state: opened = read, PUT unread, PUT read")

    # 5. Delete it by ID; it is gone, the others stay.
    before = get_json(base, "/api/v1/messages", {"limit": 0})["total"]
    status, _, body = http(base, "DELETE", "/api/v1/messages", {"IDs": [message_id]})
    check(status == 200 and body == b"ok", f"DELETE: status {status}: {body[:100]!r}")
    status, _, _ = http(base, "GET", f"/api/v1/message/{message_id}")
    check(status == 404, f"the deleted message answers {status}, not 404")
    after = get_json(base, "/api/v1/messages", {"limit": 0})["total"]
    check(after == before - 1, f"{before} messages before the delete, {after} after")
    steps.append(f"deleted: 404 now, {after} messages left")

    info = get_json(base, "/api/v1/info")
    check("Version" in info and "Messages" in info, f"info lacks Version or Messages: {sorted(info)}")
    for step in steps:
        print("ok:", step)
    print(f"mailpit_check: {base} agrees with Mailpit's API v1 ({len(steps)} steps)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Mismatch as error:
        print(f"mailpit_check: MISMATCH: {error}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # a client error is a mismatch too, with its type
        print(f"mailpit_check: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
