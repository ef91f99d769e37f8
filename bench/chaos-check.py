#!/usr/bin/env python3
"""bench/chaos-check.py: the checker of bench/chaos.sh.

Reads the client ledger (chaos-load.py) and tab-separated dumps of both
databases taken after the pipeline drained, and prints one table:

  attempted       mutating requests sent (registrations, profile and password
                  changes, deletions)
  acknowledged    answered 201 / 200 / 204
  indeterminate   timeouts, broken connections, 5xx
  lost            an acknowledged change that is not in MagentaUsers; an event
                  of MagentaUsers' outbox never applied in
                  MagentaAuthentication (or dead-lettered); an acknowledged
                  final state that does not behave: its password does not
                  log in as that user, a deleted user's still does, or the
                  profile lacks its acknowledged display name
  duplicated      a user version applied by more than one event
  divergent       users whose state differs between the two databases
                  (MagentaUsers' users and deleted_users against auth_users)

and the lag of every event from its outbox commit to its application.
Exit status 1 when lost, duplicated or divergent is not 0.

  chaos-check.py DIR BASE_URL [LOGINS]
      DIR holds ledger.jsonl, users.tsv, deleted.tsv, outbox.tsv,
      auth_users.tsv, processed.tsv, rejected.tsv; the final states of every
      follow-up chain and LOGINS (default 200) other users are tried
      through BASE_URL (-: none, the databases alone are judged).
"""
import importlib.util
import json
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
_spec = importlib.util.spec_from_file_location("chaos_load", os.path.join(os.path.dirname(__file__), "chaos-load.py"))
chaos_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chaos_load)


def tsv(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def pct(vals, p):
    if not vals:
        return 0.0
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(p / 100.0 * len(vals)))]


def main(d, base, n_logins):
    ledger = [json.loads(line) for line in open(os.path.join(d, "ledger.jsonl"))]
    ops = [r for r in ledger if r["kind"] == "op"]
    users = {r[0]: r[1:] for r in tsv(os.path.join(d, "users.tsv"))}
    deleted = {r[0]: int(r[1]) for r in tsv(os.path.join(d, "deleted.tsv"))}
    outbox = tsv(os.path.join(d, "outbox.tsv"))
    auth = {r[0]: r[1:] for r in tsv(os.path.join(d, "auth_users.tsv"))}
    processed = {r[0]: r[1:] for r in tsv(os.path.join(d, "processed.tsv"))}
    rejected = tsv(os.path.join(d, "rejected.tsv"))

    problems = {"lost": [], "duplicated": [], "divergent": []}

    # acknowledged changes that MagentaUsers does not hold
    for r in ops:
        if r["outcome"] != "ok":
            continue
        uid = r.get("id")
        if r["op"] in ("register", "reregister", "rename", "password"):
            if uid not in users and uid not in deleted:
                problems["lost"].append("%s %s acknowledged, user %s in neither users nor deleted_users"
                                        % (r["op"], r["user"], uid))
        elif r["op"] == "delete":
            if uid not in deleted:
                problems["lost"].append("delete %s acknowledged, %s not in deleted_users" % (r["user"], uid))

    # every event of the outbox applied (or found stale / same version) once
    lags = []
    for ev, uid, ver, etype, created in outbox:
        p = processed.get(ev)
        if p is None:
            problems["lost"].append("event %s (%s v%s of %s) never applied" % (ev, etype, ver, uid))
            continue
        lags.append(float(p[3]) - float(created))
    for r in rejected:
        problems["lost"].append("message dead-lettered: %s" % " ".join(r))

    # a user version applied by two events
    applied = {}
    for ev, (uid, ver, out, _, _) in processed.items():
        if out == "applied":
            applied.setdefault((uid, ver), []).append(ev)
    for (uid, ver), evs in applied.items():
        if len(evs) > 1:
            problems["duplicated"].append("user %s v%s applied by %d events: %s"
                                          % (uid, ver, len(evs), " ".join(evs)))

    # the two databases agree on every user
    for uid, row in users.items():
        a = auth.get(uid)
        # users: username email hash stamp display roles version
        # auth:  username email hash stamp display roles version deleted
        if a is None:
            problems["divergent"].append("user %s (%s) missing in auth_users" % (uid, row[0]))
        elif a[:7] != row[:7] or a[7] != "f":
            diff = [n for n, x, y in zip(("username", "email", "password_hash", "security_stamp",
                                          "display_name", "roles", "version"), row, a) if x != y]
            if a[7] != "f":
                diff.append("deleted")
            problems["divergent"].append("user %s (%s) differs: %s" % (uid, row[0], ", ".join(diff)))
    for uid, ver in deleted.items():
        a = auth.get(uid)
        if a is None or a[7] != "t" or int(a[6]) != ver:
            problems["divergent"].append("deleted user %s (v%d) in auth_users as %s"
                                         % (uid, ver, "missing" if a is None else
                                            "v%s deleted=%s" % (a[6], a[7])))
    for uid in auth:
        if uid not in users and uid not in deleted:
            problems["divergent"].append("auth_users holds %s, which MagentaUsers never had" % uid)

    # the acknowledged final states log in (or not) as they must
    expects = [r for r in ledger if r["kind"] == "expect"]
    followed = {r["user"] for r in ops if r["op"] != "register"}
    chained = [r for r in expects if r["user"] in followed]
    plain = [r for r in expects if r["user"] not in followed]
    random.shuffle(plain)
    tried = chained + plain[:n_logins] if base != "-" else []
    c = chaos_load.Client(base) if tried else None
    for r in tried:
        st, doc = c.request("POST", "/api/auth/login", {"usernameOrEmail": r["user"], "password": r["password"]})
        got_id = doc.get("user", {}).get("id") if st == 200 and isinstance(doc, dict) else None
        if not r["alive"]:
            if st != 401:
                problems["lost"].append("login of deleted %s (%s): %s, not 401" % (r["user"], r["id"], st))
            continue
        if got_id != r["id"]:
            problems["lost"].append("login of %s: %s (user %s), expected 200 as %s" % (r["user"], st, got_id, r["id"]))
            continue
        if "displayName" in r:
            st, doc = c.request("GET", "/api/registration/users/me", token=doc.get("accessToken"))
            have = doc.get("displayName") if isinstance(doc, dict) else None
            if st != 200 or have != r["displayName"]:
                problems["lost"].append("profile of %s: %s displayName %r, expected %r" % (r["user"], st, have, r["displayName"]))
    if c:
        c.close()

    by = {}
    for r in ops:
        by.setdefault(r["op"], {"ok": 0, "rejected": 0, "indeterminate": 0})[r["outcome"]] += 1
    attempted = len(ops)
    ack = sum(1 for r in ops if r["outcome"] == "ok")
    indet = sum(1 for r in ops if r["outcome"] == "indeterminate")
    redeliveries = sum(int(p[4]) for p in processed.values())
    outcomes = {}
    for p in processed.values():
        outcomes[p[2]] = outcomes.get(p[2], 0) + 1

    print("chaos: %-14s %d" % ("attempted", attempted))
    print("chaos: %-14s %d" % ("acknowledged", ack))
    print("chaos: %-14s %d" % ("indeterminate", indet))
    print("chaos: %-14s %d" % ("rejected", attempted - ack - indet))
    for op in sorted(by):
        c = by[op]
        print("chaos:   %-12s ok %d, rejected %d, indeterminate %d" % (op, c["ok"], c["rejected"], c["indeterminate"]))
    print("chaos: %-14s %d (%s; %d redeliveries)" % (
        "events", len(outbox), ", ".join("%s %d" % kv for kv in sorted(outcomes.items())), redeliveries))
    print("chaos: %-14s %d users, %d deleted; %d final states tried by login" % ("state", len(users), len(deleted), len(tried)))
    print("chaos: %-14s p50 %.3f s, p99 %.3f s, max %.3f s" % ("event lag", pct(lags, 50), pct(lags, 99),
                                                               max(lags) if lags else 0.0))
    bad = 0
    for k in ("lost", "duplicated", "divergent"):
        print("chaos: %-14s %d" % (k, len(problems[k])))
        for line in problems[k][:20]:
            print("chaos:   " + line)
        bad += len(problems[k])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200))
