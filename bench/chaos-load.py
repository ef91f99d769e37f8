#!/usr/bin/env python3
"""bench/chaos-load.py: the client side of bench/chaos.sh.

Registers N users through the web server at a bounded rate from several
client threads, and for a share of them runs a follow-up chain through the
account lifecycle (log in, then a display-name change, a password change, or
a deletion and a new registration of the same name).  Every mutating request
goes into the ledger (one JSON object per line) with its outcome:

  ok             the service acknowledged it (201 / 200 / 204)
  rejected       a definite refusal (4xx): nothing changed
  indeterminate  a timeout, a broken connection or a 5xx: it may or may not
                 have happened

and, for a chain that was acknowledged to its end, the credentials that must
work afterwards ("expect" lines), which bench/chaos-check.py tries.
Logins needed on the way are retried (the user's event may still be in
flight) and are not in the ledger: they change nothing.

  chaos-load.py BASE_URL N LEDGER [--clients C] [--rate R] [--follow F]
                [--prefix P] [--stop FILE]

Stops early when FILE exists.  Only 127.0.0.1 is contacted.
"""
import argparse
import http.client
import json
import os
import queue
import random
import secrets
import sys
import threading
import time
import urllib.parse

TIMEOUT = 10  # seconds a request may take before it is indeterminate
LOGIN_DEADLINE = 240  # seconds a follow-up waits for its user to log in


class Ledger:
    """Append-only JSON-lines file shared by the threads."""

    def __init__(self, path):
        self.f = open(path, "w", buffering=1)
        self.lock = threading.Lock()
        self.counts = {}

    def write(self, **rec):
        rec["t"] = round(time.time(), 3)
        with self.lock:
            self.f.write(json.dumps(rec) + "\n")
            if rec.get("kind") == "op":
                k = (rec["op"], rec["outcome"])
                self.counts[k] = self.counts.get(k, 0) + 1

    def close(self):
        self.f.close()


class Client:
    """One keep-alive HTTP connection to the web server; reopened after any
    failure (a killed worker or web server may leave it broken)."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        assert u.hostname in ("127.0.0.1", "localhost"), "loopback only"
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None, token=None):
        """(status, parsed JSON body or None); status None on a timeout or a
        broken connection."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException):
            self.close()
            return None, None
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return r.status, doc

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def outcome(status, ok):
    if status in ok:
        return "ok"
    if status is None or status >= 500:
        return "indeterminate"
    return "rejected"


def password():
    return "Ch4os-" + secrets.token_urlsafe(12)


class Load:
    def __init__(self, a):
        self.a = a
        self.ledger = Ledger(a.ledger)
        self.next = 0
        self.lock = threading.Lock()
        self.follow = queue.Queue()
        self.reg_done = threading.Event()
        self.t0 = time.monotonic()
        self.rng = random.Random(a.seed)

    def stopped(self):
        return self.a.stop and os.path.exists(self.a.stop)

    def take(self):
        """The next registration index, paced to the rate; None when done."""
        with self.lock:
            if self.next >= self.a.n or self.stopped():
                return None
            i = self.next
            self.next += 1
        due = self.t0 + i / self.a.rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        return i

    def register(self, c, name, pw, op="register"):
        body = {"username": name, "email": name + "@chaos.example", "password": pw, "confirmPassword": pw}
        st, doc = c.request("POST", "/api/registration/register", body)
        res = outcome(st, (201,))
        uid = doc.get("userId") if res == "ok" and isinstance(doc, dict) else None
        self.ledger.write(kind="op", op=op, user=name, outcome=res, status=st, id=uid)
        return res, uid

    def registrar(self):
        c = Client(self.a.base)
        while (i := self.take()) is not None:
            name = "%s%06d" % (self.a.prefix, i)
            pw = password()
            res, uid = self.register(c, name, pw)
            if res == "ok":
                with self.lock:
                    chosen = self.rng.random() < self.a.follow_share
                    kind = self.rng.choice(("rename", "password", "delete"))
                if chosen:
                    self.follow.put((name, pw, uid, kind))
                else:
                    self.ledger.write(kind="expect", user=name, password=pw, id=uid, alive=True)
        c.close()

    def login(self, c, name, pw, uid):
        """An access token for NAME once its current state has reached the
        authentication service (the login names user UID); None at the
        deadline."""
        end = time.monotonic() + LOGIN_DEADLINE
        delay = 0.2
        while time.monotonic() < end and not self.stopped():
            st, doc = c.request("POST", "/api/auth/login", {"usernameOrEmail": name, "password": pw})
            if st == 200 and isinstance(doc, dict):
                if doc.get("user", {}).get("id") == uid:
                    return doc.get("accessToken")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        return None

    def chain(self, c, name, pw, uid, kind):
        """One follow-up; writes what must hold afterwards when every step
        was acknowledged."""
        tok = self.login(c, name, pw, uid)
        if tok is None:
            self.ledger.write(kind="note", user=name, what="login_deadline")
            return
        if kind == "rename":
            st, _ = c.request("PATCH", "/api/registration/users/me", {"displayName": "Chaos " + name}, tok)
            res = outcome(st, (200,))
            self.ledger.write(kind="op", op="rename", user=name, outcome=res, status=st, id=uid)
            if res == "ok":
                self.ledger.write(kind="expect", user=name, password=pw, id=uid, alive=True,
                                  displayName="Chaos " + name)
        elif kind == "password":
            new = password()
            body = {"currentPassword": pw, "newPassword": new, "confirmPassword": new}
            st, _ = c.request("POST", "/api/registration/users/me/password", body, tok)
            res = outcome(st, (200,))
            self.ledger.write(kind="op", op="password", user=name, outcome=res, status=st, id=uid)
            if res != "ok":
                return
            # the new password logs in once the UserUpdated is applied; then
            # a second change on top of it must be ordered after the first
            tok = self.login(c, name, new, uid)
            if tok is None:
                self.ledger.write(kind="note", user=name, what="login_deadline")
                return
            st, _ = c.request("PATCH", "/api/registration/users/me", {"displayName": "Changed " + name}, tok)
            res = outcome(st, (200,))
            self.ledger.write(kind="op", op="rename", user=name, outcome=res, status=st, id=uid)
            if res == "ok":
                self.ledger.write(kind="expect", user=name, password=new, id=uid, alive=True,
                                  displayName="Changed " + name)
        else:
            st, _ = c.request("DELETE", "/api/registration/users/me", {"password": pw}, tok)
            res = outcome(st, (204,))
            self.ledger.write(kind="op", op="delete", user=name, outcome=res, status=st, id=uid)
            if res != "ok":
                return
            # the name is free at once: a new user takes it, whose
            # UserCreated may overtake the old one's UserDeleted
            new = password()
            res, nid = self.register(c, name, new, op="reregister")
            if res == "ok":
                self.ledger.write(kind="expect", user=name, password=new, id=nid, alive=True)
                self.ledger.write(kind="expect", user=name, password=pw, id=uid, alive=False)

    def follower(self):
        c = Client(self.a.base)
        while True:
            try:
                item = self.follow.get(timeout=0.5)
            except queue.Empty:
                if self.reg_done.is_set() or self.stopped():
                    break
                continue
            self.chain(c, *item)
        c.close()

    def run(self):
        regs = [threading.Thread(target=self.registrar) for _ in range(self.a.clients)]
        fols = [threading.Thread(target=self.follower) for _ in range(self.a.followers)]
        for t in regs + fols:
            t.start()
        for t in regs:
            t.join()
        self.reg_done.set()
        for t in fols:
            t.join()
        self.ledger.close()
        for (op, res), n in sorted(self.ledger.counts.items()):
            print("load: %-10s %-13s %d" % (op, res, n))
        print("load: done in %.1f s" % (time.monotonic() - self.t0))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("n", type=int)
    p.add_argument("ledger")
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--followers", type=int, default=4)
    p.add_argument("--rate", type=float, default=40.0, help="registrations per second")
    p.add_argument("--follow", dest="follow_share", type=float, default=0.2,
                   help="share of users that get a follow-up chain")
    p.add_argument("--prefix", default="chaos")
    p.add_argument("--stop", default=None)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    Load(a).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
