#!/usr/bin/python3
"""event-tool: events as the relay makes them, written independently of
our C code (PyNaCl and python3-cryptography), for the bats suite.  The
format is the one of docs/events.md, "Authenticated events".

  event-tool.py wire KEYDIR ROUTING_KEY [--no-seal] < body
      (trailing newlines are not part of the body) print {"body": ..., "kid": ..., "sig": ...}: the body with
      data.passwordHash sealed to KEYDIR/events-seal.pub (unless --no-seal),
      signed with KEYDIR/events-sign.pem
  event-tool.py verify KEYDIR ROUTING_KEY KID SIG < body
      exit 0 when the signature is good (KEYDIR/events-sign.pub), else 1
  event-tool.py open KEYDIR < sealed
      print the hash a sealed value holds (KEYDIR/events-seal.pem)
  event-tool.py kid PUBLIC_KEY.pem
      print a public key's id
"""
import base64
import hashlib
import json
import sys

import nacl.public
import nacl.signing
from cryptography.hazmat.primitives import serialization

CONTEXT = b"magenta-event-v1"
RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def pub_raw(path):
    with open(path, "rb") as f:
        return serialization.load_pem_public_key(f.read()).public_bytes(**RAW)


def priv_raw(path):
    with open(path, "rb") as f:
        k = serialization.load_pem_private_key(f.read(), password=None)
    return k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                           serialization.NoEncryption())


def kid(pub):
    return hashlib.blake2b(pub, digest_size=16).digest()[:8].hex()


def message(routing_key, body):
    rk = routing_key.encode()
    return CONTEXT + bytes([len(rk)]) + rk + body


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "wire":
        keydir, rk = argv[2], argv[3]
        body = sys.stdin.buffer.read().rstrip(b"\n")  # a here-string's newline
        try:
            ev = json.loads(body)
        except ValueError:
            ev = None  # poison: signed as it is
        if "--no-seal" not in argv and isinstance(ev, dict):
            h = ev.get("data", {}).get("passwordHash") if isinstance(ev.get("data"), dict) else None
            if isinstance(h, str):
                spub = pub_raw(keydir + "/events-seal.pub")
                box = nacl.public.SealedBox(nacl.public.PublicKey(spub)).encrypt(h.encode())
                ev["data"]["passwordHash"] = "sealed:v1:%s:%s" % (
                    kid(spub), base64.b64encode(box).decode())
                body = json.dumps(ev, separators=(",", ":")).encode()
        sk = nacl.signing.SigningKey(priv_raw(keydir + "/events-sign.pem"))
        sig = sk.sign(message(rk, body)).signature
        print(json.dumps({"body": body.decode(), "kid": kid(bytes(sk.verify_key)),
                          "sig": base64.b64encode(sig).decode()}))
        return 0
    if cmd == "verify":
        keydir, rk, k, sig = argv[2:6]
        pk = pub_raw(keydir + "/events-sign.pub")
        if k != kid(pk):
            return 1
        try:
            nacl.signing.VerifyKey(pk).verify(message(rk, sys.stdin.buffer.read()),
                                              base64.b64decode(sig))
        except Exception:
            return 1
        return 0
    if cmd == "open":
        keydir = argv[2]
        sealed = sys.stdin.read().strip()
        prefix, k, b64 = sealed.rsplit(":", 2)
        sk = nacl.public.PrivateKey(priv_raw(keydir + "/events-seal.pem"))
        if prefix != "sealed:v1" or k != kid(bytes(sk.public_key)):
            return 1
        print(nacl.public.SealedBox(sk).decrypt(base64.b64decode(b64)).decode())
        return 0
    if cmd == "kid":
        print(kid(pub_raw(argv[2])))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
