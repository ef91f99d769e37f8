#!/usr/bin/python3
"""smtp-sink.py: a real SMTP server for the tests (aiosmtpd), on 127.0.0.1.

Every message it accepts becomes one file in --dir, NNNNNN.eml, written
whole before it appears (a temporary name, then a rename): the envelope
(X-Sink-Mail-From:, X-Sink-Rcpt-To:, X-Sink-Auth:) as header lines, then
the message as received.  --auth USER:PASSWORD requires SMTP AUTH with
those credentials (PLAIN or LOGIN, on the plain connection).  Runs until
SIGTERM or SIGINT.
"""
import argparse
import os
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.n = len([f for f in os.listdir(directory) if f.endswith(".eml")])

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            n = self.n
        who = ""
        if session.auth_data is not None:
            login = session.auth_data.login
            who = login.decode() if isinstance(login, bytes) else str(login)
        head = "X-Sink-Mail-From: %s\r\nX-Sink-Rcpt-To: %s\r\nX-Sink-Auth: %s\r\n" % (
            envelope.mail_from, ",".join(envelope.rcpt_tos), who)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        tmp = os.path.join(self.dir, ".%06d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(head.encode() + content)
        os.rename(tmp, os.path.join(self.dir, "%06d.eml" % n))
        return "250 OK queued as %06d" % n


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--auth", default="")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    kw = {}
    if a.auth:
        user, _, password = a.auth.partition(":")

        def check(server, session, envelope, mechanism, data):
            ok = (isinstance(data, LoginPassword) and data.login.decode() == user
                  and data.password.decode() == password)
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        kw = dict(authenticator=check, auth_required=True, auth_require_tls=False)
    ctl = Controller(Sink(a.dir), hostname="127.0.0.1", port=a.port, **kw)
    ctl.start()
    print("smtp-sink: listening on 127.0.0.1:%d, mail in %s" % (a.port, a.dir), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
