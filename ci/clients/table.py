#!/usr/bin/env python3
"""Writes the table of real mail clients against the bundled client cases, from the JSON
reports of `parley test-client` that ci/client-table wrote: one table per protocol, a row per
case, a column per client; each cell says how the case ended, in words kept short and free of
machine-specific parts (host names), so that two runs on two machines give the same table.

usage: table.py REPORTS_DIR CLIENTS_SPEC
  CLIENTS_SPEC: lines "protocol|label|report-file", in column order
"""
import json
import re
import sys

CASE_ORDER = [
    "starttls-not-offered", "starttls-refused", "credentials-only-under-tls", "capabilities-asked-again",
    "response-injection", "preauth", "tls-versions", "bad-certificate-expired", "bad-certificate-wrong-host",
    "bad-certificate-self-signed", "bad-certificate-unknown-ca",
]


def case_of(scenario):
    return scenario["file"].rsplit("/", 1)[-1].removesuffix(".yaml")


def notes(scenario):
    return [e.get("text", "") for e in scenario.get("events", []) if e.get("type") == "note"]


def exit_of(scenario):
    for text in notes(scenario):
        m = re.match(r"the client exited with (status|signal) (\d+)", text)
        if m:
            return ("exit " if m.group(1) == "status" else "signal ") + m.group(2)
        if text.startswith("the client did not exit within"):
            return "killed: did not exit"
    return None


def how_passed(scenario):
    said = notes(scenario)
    if any(t.startswith("the client refused the TLS handshake, which this step allows") for t in said):
        return "refused the connection"
    if any("refused the certificate" in t and "once it had checked it" in t for t in said):
        return "closed after the handshake"
    if any(t.startswith("the TLS handshake failed, as the step expects") for t in said):
        return "aborted the handshake"
    if case_of(scenario) == "response-injection":
        return "discarded them"
    return None


def short_failure(message):
    patterns = [
        (r"went on in plain text after (?:STARTTLS|STLS) was refused: it sent (\S+)", r"went on in plain text (\1)"),
        (r"went on in plain text without (?:STARTTLS|STLS): it sent (\S+)", r"went on in plain text (\1)"),
        (r"went on in plain text after a PREAUTH greeting: it sent (\S+)", r"went on in plain text (\1)"),
        (r"the client sent (\S+) before (STARTTLS|STLS)", r"sent \1 before \2"),
        (r"accepted the certificate \S+, which it must refuse: after the handshake it sent '(\S+)", r"accepted it (then sent \1)"),
        (r"completed the TLS handshake with the certificate \S+, which it must refuse, and neither", "accepted it, then waited"),
        (r"completed the TLS handshake with the certificate \S+, which it must refuse", "accepted it"),
        (r"did not finish the TLS handshake with the certificate", "refused the good certificate"),
        (r"bytes arrived after the last match, where nothing more should", "took the injected reply (did not wait)"),
        (r"did not wait for the answer", "took the injected reply (did not wait)"),
        (r"took the \"\* BYE\" injected", "took the injected * BYE"),
        (r"exited with status 0, as if it had succeeded", "gave up, but exited 0"),
        (r"the dialog went as it should, but the client exited with (status|signal) (\d+)", r"exit \2 after a good dialog"),
        (r"did not exit within", "did not exit"),
        (r"did not connect to", "never connected"),
        (r"offered-versions is (.*), expected to lack", r"offered \1"),
    ]
    for pattern, replacement in patterns:
        m = re.search(pattern, message)
        if m:
            return m.expand(replacement)
    m = re.search(r"variable '?(sent_before_\w+)'? .*?'([A-Za-z]+)'", message)
    if m:
        return f"sent {m.group(2)} first"
    text = re.sub(r"(EHLO|HELO|ehlo|helo) [^'\\]+", r"\1 <name>", message)
    return text[:80]


def cell(scenario):
    if scenario is None:
        return "—"
    exit_text = exit_of(scenario)
    if scenario["outcome"] == "passed":
        how = how_passed(scenario)
        parts = [p for p in (how, exit_text) if p]
        return "pass" + (f" ({'; '.join(parts)})" if parts else "")
    failure = (scenario.get("failure") or {}).get("message", "")
    word = "**FAIL**" if scenario["outcome"] == "failed" else "**ERROR**"
    return f"{word}: {short_failure(failure)}" + (f" ({exit_text})" if exit_text else "")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    folder, spec = sys.argv[1], sys.argv[2]
    columns = []
    with open(spec) as f:
        for line in f:
            if line.strip():
                protocol, label, report = line.strip().split("|")
                columns.append((protocol, label, report))
    out = []
    for protocol in ["smtp", "imap", "pop3"]:
        mine = [(label, report) for p, label, report in columns if p == protocol]
        if not mine:
            continue
        results = {}
        names = {}
        for label, report in mine:
            with open(f"{folder}/{report}") as f:
                data = json.load(f)
            for scenario in data["scenarios"]:
                results[(label, case_of(scenario))] = scenario
                names[case_of(scenario)] = scenario["name"].split(": ", 1)[-1]
        cases = [c for c in CASE_ORDER if c in names] + sorted(c for c in names if c not in CASE_ORDER)
        out.append(f"#### {protocol.upper()}\n")
        out.append("| case | " + " | ".join(f"`{label}`" for label, _ in mine) + " |")
        out.append("| --- | " + " | ".join("---" for _ in mine) + " |")
        for case in cases:
            row = [f"{names[case]} (`{case}`)"] + [cell(results.get((label, case))) for label, _ in mine]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    print("\n".join(out).rstrip() + "\n", end="")


if __name__ == "__main__":
    main()
