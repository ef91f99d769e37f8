#!/usr/bin/env python3
"""fcgi-slow.py SOCK URI BODY GATE: one FastCGI POST request, sent slowly.

Connects to the Unix socket SOCK, sends the request's parameters and all of
BODY but its last byte, creates GATE.sent, then waits until the file GATE
exists before it sends the last byte.  Prints the program's answer (its
FastCGI stdout) and exits 0 once the program ended the request, 1 if the
connection closed first.  The request is thus "in hand" for as long as the
test likes: what a graceful stop must let finish.
"""
import os
import socket
import struct
import sys
import time


def record(rtype, content, rid=1):
    return struct.pack("!BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def pair(name, value):
    n, v = name.encode(), value.encode()
    out = b""
    for b in (n, v):
        out += bytes([len(b)]) if len(b) < 128 else struct.pack("!I", len(b) | 0x80000000)
    return out + n + v


def main():
    path, uri, body, gate = sys.argv[1:5]
    body = body.encode()
    params = b"".join(pair(k, v) for k, v in (
        ("REQUEST_METHOD", "POST"), ("REQUEST_URI", uri), ("SCRIPT_NAME", uri),
        ("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", str(len(body))),
        ("REMOTE_ADDR", "127.0.0.1")))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"") +
              record(5, body[:-1]))
    open(gate + ".sent", "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.05)
    s.sendall(record(5, body[-1:]) + record(5, b""))
    buf, out = b"", b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return 1
        buf += chunk
        while len(buf) >= 8:
            _, rtype, _, clen, plen, _ = struct.unpack("!BBHHBB", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
            if rtype == 6:
                out += content
            elif rtype == 3:
                sys.stdout.write(out.decode(errors="replace"))
                return 0


sys.exit(main())
