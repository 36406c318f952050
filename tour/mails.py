#!/usr/bin/python3
"""tour/mails.py FILE: prints the mails a local SMTP sink (test/peers/smtp_sink.py)
received: the headers a reader checks first and the first lines of the text part,
ordered by recipient and subject so that the listing does not depend on timing."""
import email
import email.policy
import json
import sys

LINES = 4
mails = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        if line.strip():
            rec = json.loads(line)
            mails.append(email.message_from_string(rec["data"], policy=email.policy.default))
mails.sort(key=lambda m: (str(m["To"]), str(m["Subject"])))
print(f"{len(mails)} mail(s) received by the sink")
for m in mails:
    print()
    for h in ("From", "To", "Subject", "Message-ID", "Content-Language"):
        print(f"{h}: {m[h]}")
    part = m.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    lines = [l for l in text.splitlines() if l.strip()]
    for l in lines[:LINES]:
        print(f"  | {l}")
    if len(lines) > LINES:
        print("  | ...")
