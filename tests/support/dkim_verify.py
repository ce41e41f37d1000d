"""Checks every DKIM signature of each message with dkimpy, an independent verifier.

The verifying is dkimpy's; this file only feeds it the public keys through its DNS hook
(dnsfunc), so no DNS server is needed.

  dkim_verify.py --key SELECTOR._domainkey.DOMAIN=RECORD [--key ...] FILE...

Prints one line per signature ("ok FILE #i d=... s=..." or "FAIL ..."), and exits 1 when
a signature fails or a message has none.
"""
import argparse, logging, re, sys

import dkim


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", action="append", default=[], help="NAME=TXT record value")
    p.add_argument("files", nargs="+")
    args = p.parse_args()
    records = {}
    for item in args.key:
        name, _, value = item.partition("=")
        records[name.strip().rstrip(".").lower()] = value.encode()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.rstrip(".").lower())

    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    failed = False
    for path in args.files:
        raw = open(path, "rb").read()
        head = raw.split(b"\r\n\r\n", 1)[0]
        count = len(re.findall(rb"(?im)^dkim-signature:", head))
        if count == 0:
            print("FAIL %s: no DKIM-Signature" % path)
            failed = True
        for i in range(count):
            d = dkim.DKIM(raw, logger=logging.getLogger("dkimpy"))
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
            sig = d.signature_fields or {}
            print("%s %s #%d d=%s s=%s a=%s" % (
                "ok" if ok else "FAIL", path, i,
                sig.get(b"d", b"?").decode(), sig.get(b"s", b"?").decode(),
                sig.get(b"a", b"?").decode()))
            failed = failed or not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
