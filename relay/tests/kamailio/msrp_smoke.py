#!/usr/bin/env python3
"""Tiny MSRP (RFC 4975/4976) client that exercises a Kamailio `msrp` relay.

Stdlib only. Prints every frame sent (>>) and received (<<).

  python3 msrp_smoke.py --port 2855 smoke            # AUTH x2 + SEND both ways
  python3 msrp_smoke.py --port 2855 size 4096 20480  # SEND bodies of these sizes
  python3 msrp_smoke.py --port 2855 chunked          # 64 KiB in 2 KiB chunks
  python3 msrp_smoke.py --port 2855 expires          # 423s and the Expires echo
  python3 msrp_smoke.py --port 2855 expiry --wait 4  # Use-Path after it expired
  python3 msrp_smoke.py --port 2855 closed-peer      # Use-Path after its TCP closed
  python3 msrp_smoke.py --port 2855 chain            # alice -> Kamailio -> next hop
        [--hop-cert C --hop-key K]                   # ... with the next hop on TLS
  python3 msrp_smoke.py --port 2855 parse-error      # malformed frames
  python3 msrp_smoke.py --port 2856 --tls smoke      # same over TLS (msrps)

Options: --passwd (Digest password, default "secret"; the user name is the
client's name), --quiet-body N (print at most N body bytes per frame, default
200). A relay started with -A NO_DIGEST answers the first AUTH with 200; the
client then skips the Digest step by itself.

Exit status 0 when every check of the chosen scenario held, 1 otherwise.
"""

import argparse
import hashlib
import os
import re
import secrets
import socket
import ssl
import sys
import time

ARGS = None
FAILED = []


def log(msg):
    print(msg, flush=True)


def check(cond, what):
    log(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        FAILED.append(what)
    return cond


def show(direction, who, data):
    """Print a frame, eliding the middle of long bodies."""
    limit = ARGS.quiet_body
    text = data.decode("utf-8", "replace")
    head, sep, rest = text.partition("\r\n\r\n")
    if sep and len(rest) > limit + 40:
        end = rest[-40:]
        rest = rest[:limit] + f"...<{len(rest) - limit - 40} bytes elided>..." + end
    text = head + sep + rest
    log(f"{direction} [{who}] ({len(data)} bytes)")
    for line in text.split("\r\n"):
        log("    " + line)


class Frame:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        first = lines[0].decode().split(" ", 3)
        self.tid = first[1]
        if len(first) > 2 and first[2].isdigit():
            self.status = int(first[2])
            self.method = None
        else:
            self.status = None
            self.method = first[2] if len(first) > 2 else ""
        self.headers = {}
        for line in lines[1:]:
            if line.startswith(b"-------"):
                break
            k, _, v = line.decode().partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.body:
            # strip the end-line
            m = re.search(rb"\r\n-------" + re.escape(self.tid.encode()) + rb"[$#+]\r\n$",
                          self.body)
            if m:
                self.body = self.body[: m.start()]

    def h(self, name):
        return self.headers.get(name.lower())


class Client:
    def __init__(self, name, port, user=None):
        self.name = name
        self.user = user or name
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if ARGS.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self.buf = b""
        lport = sock.getsockname()[1]
        scheme = "msrps" if ARGS.tls else "msrp"
        self.uri = f"{scheme}://127.0.0.1:{lport}/{secrets.token_hex(6)};tcp"
        self.relay = f"{scheme}://127.0.0.1:{port};tcp"
        self.use_path = None
        self.closed = False

    def send_raw(self, data, label=None):
        show(">>", label or self.name, data)
        self.last_sent = len(data)
        self.sock.sendall(data)

    def recv(self, timeout=3.0):
        """Next frame, or None on timeout; sets self.closed on EOF."""
        deadline = time.time() + timeout
        while True:
            m = re.match(rb"MSRP ([A-Za-z0-9][A-Za-z0-9.\-+%=]*) ", self.buf)
            if m:
                end = re.search(rb"\r\n-------" + re.escape(m.group(1)) + rb"[$#+]\r\n",
                                self.buf)
                if end:
                    raw = self.buf[: end.end()]
                    self.buf = self.buf[end.end():]
                    show("<<", self.name, raw)
                    return Frame(raw)
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except (ConnectionResetError, ssl.SSLError) as e:
                log(f"<< [{self.name}] connection error: {e!r}")
                self.closed = True
                return None
            if not chunk:
                if not self.closed:
                    log(f"<< [{self.name}] EOF (relay closed the connection)"
                        + (f", {len(self.buf)} unparsed bytes" if self.buf else ""))
                self.closed = True
                return None
            self.buf += chunk

    def request(self, method, to_path, from_path, headers=(), body=None, ctype="text/plain",
                tid=None):
        tid = tid or secrets.token_hex(5)
        lines = [f"MSRP {tid} {method}", f"To-Path: {to_path}", f"From-Path: {from_path}"]
        lines += list(headers)
        data = "\r\n".join(lines).encode() + b"\r\n"
        if body is not None:
            data += f"Content-Type: {ctype}\r\n\r\n".encode() + body + b"\r\n"
        data += f"-------{tid}$\r\n".encode()
        self.send_raw(data)
        return tid

    def reply(self, frame, code=200, text="OK"):
        """Transaction response per RFC 4975 §7.2 (checklist 4975-062): for SEND the
        To-Path is only the first From-Path URI (the previous hop), else all of it."""
        to_path = frame.h("from-path")
        if frame.method == "SEND":
            to_path = to_path.split()[0]
        data = (f"MSRP {frame.tid} {code} {text}\r\nTo-Path: {to_path}\r\n"
                f"From-Path: {self.uri}\r\n-------{frame.tid}$\r\n").encode()
        self.send_raw(data)

    def expect(self, tid, timeout=3.0):
        """Next frame of transaction `tid` (others are printed and skipped)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            f = self.recv(deadline - time.time())
            if f is None:
                return None
            if f.tid == tid:
                return f
            log(f"  (skipping a frame of another transaction: {f.tid})")
        return None

    def auth(self, expires=None, extra=(), want_digest=True):
        """AUTH per RFC 4976 §5.1; returns the final response frame."""
        hdrs = list(extra)
        if expires is not None:
            hdrs.append(f"Expires: {expires}")
        tid = self.request("AUTH", self.relay, self.uri, hdrs)
        f = self.expect(tid)
        if f is None:
            return None
        if f.status == 401 and want_digest:
            chal = parse_challenge(f.h("www-authenticate"))
            auth = digest_authorization(chal, self.user, ARGS.passwd, "AUTH", self.relay)
            tid = self.request("AUTH", self.relay, self.uri, [auth] + hdrs)
            f = self.expect(tid)
        if f is not None and f.status == 200:
            self.use_path = f.h("use-path")
        return f

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_challenge(value):
    assert value and value.lower().startswith("digest"), value
    out = {}
    for m in re.finditer(r'(\w+)=("([^"]*)"|[^,\s]+)', value[6:]):
        out[m.group(1).lower()] = m.group(3) if m.group(3) is not None else m.group(2)
    return out


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def digest_authorization(chal, user, passwd, method, uri, nc=1):
    """RFC 2617 digest with qop=auth, as RFC 4976 §5.1 asks."""
    realm, nonce = chal["realm"], chal["nonce"]
    cnonce = secrets.token_hex(8)
    ha1 = md5(f"{user}:{realm}:{passwd}")
    ha2 = md5(f"{method}:{uri}")
    ncs = f"{nc:08x}"
    qop = "auth"
    if "qop" in chal:
        resp = md5(f"{ha1}:{nonce}:{ncs}:{cnonce}:{qop}:{ha2}")
        extra = f', qop={qop}, nc={ncs}, cnonce="{cnonce}"'
    else:
        resp = md5(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    opaque = f', opaque="{chal["opaque"]}"' if "opaque" in chal else ""
    return (f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}", algorithm=MD5{extra}{opaque}')


def authed_pair():
    log("\n=== AUTH alice ===")
    a = Client("alice", ARGS.port)
    fa = a.auth()
    check(fa is not None and fa.status == 200 and a.use_path, "alice AUTH -> 200 with Use-Path")
    log("\n=== AUTH bob ===")
    b = Client("bob", ARGS.port)
    fb = b.auth()
    check(fb is not None and fb.status == 200 and b.use_path, "bob AUTH -> 200 with Use-Path")
    return a, b


def send_through(src, dst, body, label):
    """src SENDs body to dst via dst's Use-Path; returns (200?, delivered frame)."""
    log(f"\n=== {label}: {src.name} -> relay -> {dst.name}, {len(body)} body bytes ===")
    to_path = f"{dst.use_path} {dst.uri}"
    tid = src.request("SEND", to_path, src.uri,
                      [f"Message-ID: {secrets.token_hex(4)}",
                       f"Byte-Range: 1-{len(body)}/{len(body)}"], body)
    got_200 = None
    delivered = None
    # The 200 (to src) and the SEND (to dst) come on two sockets: poll both.
    deadline = time.time() + 3
    while time.time() < deadline and (got_200 is None or delivered is None):
        if got_200 is None and not src.closed:
            f = src.recv(0.3)
            if f is not None and f.tid == tid:
                got_200 = f
        if delivered is None and not dst.closed:
            f = dst.recv(0.3)
            if f is not None and f.method == "SEND":
                delivered = f
        if src.closed and dst.closed:
            break
    return tid, got_200, delivered


def scenario_smoke():
    a, b = authed_pair()
    for src, dst, text in ((a, b, b"Hello bob, this is alice via Kamailio."),
                           (b, a, b"Hi alice, bob here.")):
        tid, ok, fwd = send_through(src, dst, text, "SEND")
        check(ok is not None and ok.status == 200, f"{src.name} gets 200 for SEND {tid}")
        check(fwd is not None and fwd.body == text, f"{dst.name} receives the SEND, body intact")
        if fwd is not None:
            check(fwd.h("to-path") == dst.uri,
                  f"forwarded To-Path is just {dst.name}'s URI ({fwd.h('to-path')})")
            check(fwd.h("from-path", ) and fwd.h("from-path").endswith(src.uri),
                  f"forwarded From-Path ends with {src.name}'s URI ({fwd.h('from-path')})")
            # hop-by-hop 200 to the relay (its To-Path is the relay's URI only);
            # the relay must absorb it: src must not see a second 200
            dst.reply(fwd)
            back = src.recv(1.0)
            check(back is None and not src.closed,
                  f"relay absorbs {dst.name}'s 200 (nothing more reaches {src.name})")
    log("\n=== REPORT: bob -> relay -> alice (success report, no response expected) ===")
    tid = b.request("REPORT", f"{a.use_path} {a.uri}", b.uri,
                    ["Message-ID: r1", "Byte-Range: 1-5/5", "Status: 000 200 OK"])
    rep = a.recv(2)
    check(rep is not None and rep.method == "REPORT" and rep.h("status") == "000 200 OK",
          "alice receives the REPORT")
    check(b.recv(1.0) is None, "bob gets no response to his REPORT")

    log("\n=== SEND with Failure-Report: no ===")
    text = b"no report please"
    tid = a.request("SEND", f"{b.use_path} {b.uri}", a.uri,
                    ["Message-ID: fr1", f"Byte-Range: 1-{len(text)}/{len(text)}",
                     "Failure-Report: no"], text)
    fwd = b.recv(2)
    check(fwd is not None and fwd.body == text, "bob receives it")
    check(a.recv(1.0) is None, "alice gets no 200 (Failure-Report: no)")

    log("\n=== AUTH with a wrong password ===")
    m = Client("mallory", ARGS.port)
    tid = m.request("AUTH", m.relay, m.uri)
    f = m.recv(2)
    if f is not None and f.status == 401:
        chal = parse_challenge(f.h("www-authenticate"))
        m.request("AUTH", m.relay, m.uri,
                  [digest_authorization(chal, "mallory", "wrong", "AUTH", m.relay)])
        g = m.recv(2)
        check(g is not None and g.status != 200,
              f"wrong password is refused ({g and g.status})")
    else:
        log(f"  info AUTH without digest answered {f and f.status}: digest is off")
    m.close()

    log("\n=== SEND to an unknown Use-Path ===")
    bogus = a.relay.replace(";tcp", "/nosuch;tcp")
    tid = a.request("SEND", f"{bogus} {b.uri}", a.uri,
                    ["Message-ID: x1", "Byte-Range: 1-2/2"], b"hi")
    f = a.expect(tid)
    check(f is not None and f.status == 481, "unknown Use-Path -> 481")
    a.close()
    b.close()


def scenario_size():
    a, b = authed_pair()
    for n in ARGS.sizes:
        body = (b"0123456789abcdef" * (n // 16 + 1))[:n]
        tid, ok, fwd = send_through(a, b, body, f"size {n}")
        log(f"  RESULT body={n} frame={a.last_sent} bytes: "
            f"response={ok.status if ok is not None else None} "
            f"delivered={'yes' if fwd is not None else 'no'} "
            f"intact={'yes' if fwd is not None and fwd.body == body else 'no'} "
            f"alice_closed={a.closed} bob_closed={b.closed}")
        if a.closed or b.closed:
            log("  a connection was closed: re-AUTHing a fresh pair")
            a.close()
            b.close()
            a, b = authed_pair()
    a.close()
    b.close()


def scenario_chunked():
    """One message in many chunks (end-line flag '+' on all but the last)."""
    a, b = authed_pair()
    total, step = ARGS.total, ARGS.chunk
    body = (b"0123456789abcdef" * (total // 16 + 1))[:total]
    mid = secrets.token_hex(4)
    log(f"\n=== {total} bytes in {step}-byte chunks, alice -> bob ===")
    ARGS.quiet_body = min(ARGS.quiet_body, 40)
    oks = 0
    for off in range(0, total, step):
        piece = body[off:off + step]
        last = off + step >= total
        tid = secrets.token_hex(5)
        data = (f"MSRP {tid} SEND\r\nTo-Path: {b.use_path} {b.uri}\r\nFrom-Path: {a.uri}\r\n"
                f"Message-ID: {mid}\r\nByte-Range: {off + 1}-{off + len(piece)}/{total}\r\n"
                f"Content-Type: text/plain\r\n\r\n").encode() + piece + \
            f"\r\n-------{tid}{'$' if last else '+'}\r\n".encode()
        a.send_raw(data)
    got = b""
    deadline = time.time() + 5
    while len(got) < total and time.time() < deadline:
        f = b.recv(0.5)
        if f is not None and f.method == "SEND":
            start = int(f.h("byte-range").split("-")[0])
            check(start == len(got) + 1, f"chunk at {start} arrives in order")
            got += f.body
    while (f := a.recv(0.5)) is not None:
        oks += f.status == 200
    check(got == body, f"bob reassembles all {total} bytes")
    check(oks == (total + step - 1) // step, f"alice got a 200 per chunk ({oks})")
    a.close()
    b.close()


def scenario_expires():
    for exp in (1, 30, 300, 999999, None):
        log(f"\n=== AUTH with Expires: {exp} ===")
        c = Client(f"c{exp}", ARGS.port)
        f = c.auth(expires=exp)
        if f is None:
            check(False, f"Expires {exp}: no response")
        else:
            log(f"  RESULT Expires={exp}: {f.status} Expires={f.h('expires')} "
                f"Min-Expires={f.h('min-expires')} Max-Expires={f.h('max-expires')}")
        c.close()


def scenario_expiry():
    exp = ARGS.expires
    log(f"\n=== Use-Path validity after it expires (bob AUTH Expires: {exp}, wait {ARGS.wait}s) ===")
    a = Client("alice", ARGS.port)
    b = Client("bob", ARGS.port)
    check((fa := a.auth()) is not None and fa.status == 200, "alice AUTH 200")
    fb = b.auth(expires=exp)
    check(fb is not None and fb.status == 200, f"bob AUTH 200 (Expires: {fb and fb.h('expires')})")
    tid, ok, fwd = send_through(a, b, b"before expiry", "SEND before expiry")
    check(fwd is not None, "delivered before expiry")
    log(f"  sleeping {ARGS.wait}s")
    time.sleep(ARGS.wait)
    tid, ok, fwd = send_through(a, b, b"after expiry", "SEND after expiry")
    log(f"  RESULT after expiry: response={ok and ok.status} delivered={fwd is not None}")
    a.close()
    b.close()


def scenario_closed_peer():
    log("\n=== SEND to a Use-Path whose AUTH connection has closed ===")
    a, b = authed_pair()
    b.close()
    b.closed = True
    time.sleep(0.5)
    tid, ok, fwd = send_through(a, b, b"to a closed peer", "SEND to closed bob")
    later = a.recv(1.5)
    log(f"  RESULT closed peer: response={ok and ok.status} "
        f"later_frame={(later.status or later.method) if later else None}")
    a.close()


class Peer(Client):
    """Accepted side of a connection that the relay opened to our listener."""

    def __init__(self, name, sock, uri):
        self.name, self.user, self.sock, self.buf, self.uri = name, name, sock, b"", uri
        self.closed = False
        self.use_path = None


def scenario_chain():
    """alice -> Kamailio -> next hop (a listener standing in for msrpd) and back."""
    scheme = "msrps" if ARGS.tls else "msrp"
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    lport = lsock.getsockname()[1]
    # Kamailio dials the next hop: over TLS if its URI is msrps (needs --hop-cert/--hop-key)
    hop_scheme = "msrps" if ARGS.hop_cert else "msrp"
    hop_uri = f"{hop_scheme}://127.0.0.1:{lport}/sessB;tcp"
    bob_uri = f"{scheme}://127.0.0.1:9/bob;tcp"
    log(f"\n=== chain: alice -> Kamailio -> next hop {hop_uri} ===")
    a = Client("alice", ARGS.port)
    fa = a.auth()
    check(fa is not None and fa.status == 200, "alice AUTH 200")
    body = b"hello next hop"
    tid = a.request("SEND", f"{a.use_path} {hop_uri} {bob_uri}", a.uri,
                    ["Message-ID: c1", f"Byte-Range: 1-{len(body)}/{len(body)}"], body)
    f = a.recv(2)
    check(f is not None and f.status == 200, "alice gets the hop-by-hop 200 from Kamailio")
    lsock.settimeout(3)
    try:
        conn, _ = lsock.accept()
        if ARGS.hop_cert:
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(ARGS.hop_cert, ARGS.hop_key)
            conn.settimeout(3)
            conn = sctx.wrap_socket(conn, server_side=True)
            log(f"  next hop: TLS accepted ({conn.version()})")
    except (socket.timeout, TimeoutError, ssl.SSLError) as e:
        check(False, f"Kamailio connects to the next hop ({e!r})")
        return
    hop = Peer("nexthop", conn, hop_uri)
    g = hop.recv(2)
    check(g is not None and g.method == "SEND" and g.body == body, "next hop receives the SEND")
    if g is None:
        return
    check(g.h("to-path") == f"{hop_uri} {bob_uri}", f"To-Path lost Kamailio's URI ({g.h('to-path')})")
    check(g.h("from-path") == f"{a.use_path} {a.uri}",
          f"From-Path gained alice's Use-Path ({g.h('from-path')})")
    hop.reply(g)   # hop-by-hop 200 back to Kamailio: absorbed
    check(a.recv(1.0) is None, "Kamailio absorbs the next hop's 200")
    log("\n=== chain back: next hop -> Kamailio -> alice over Kamailio's connection ===")
    back = b"hello alice"
    tid2 = hop.request("SEND", g.h("from-path"), f"{hop_uri} {bob_uri}",
                       ["Message-ID: c2", f"Byte-Range: 1-{len(back)}/{len(back)}"], back)
    r = hop.recv(2)
    check(r is not None and r.status == 200, "next hop gets 200 from Kamailio")
    d = a.recv(2)
    check(d is not None and d.method == "SEND" and d.body == back, "alice receives it")

    log("\n=== open relay? an un-AUTHed client names any first hop ===")
    m = Client("mallory", ARGS.port)
    tid3 = m.request("SEND", f"{scheme}://127.0.0.1:{ARGS.port}/made-up;tcp {hop_uri} {bob_uri}",
                     m.uri, ["Message-ID: c3", "Byte-Range: 1-3/3"], b"boo")
    r = m.recv(2)
    got = hop.recv(2)
    log(f"  RESULT un-AUTHed relay: response={r and r.status} forwarded={got is not None}")
    for c in (a, hop, m):
        c.close()
    lsock.close()


def scenario_parse_error():
    cases = [
        ("To-Path not first", lambda c, t: (
            f"MSRP {t} SEND\r\nFrom-Path: {c.uri}\r\nTo-Path: {c.relay}\r\n"
            f"Message-ID: 1\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
            f"-------{t}$\r\n")),
        ("end-line with wrong transaction id", lambda c, t: (
            f"MSRP {t} SEND\r\nTo-Path: {c.relay}\r\nFrom-Path: {c.uri}\r\n"
            f"Message-ID: 1\r\nByte-Range: 1-2/2\r\n-------zzz{t}$\r\n")),
        ("header line without colon", lambda c, t: (
            f"MSRP {t} SEND\r\nTo-Path: {c.relay}\r\nFrom-Path: {c.uri}\r\n"
            f"Garbage header line\r\nMessage-ID: 1\r\n-------{t}$\r\n")),
        ("unknown method", lambda c, t: (
            f"MSRP {t} FOOBAR\r\nTo-Path: {c.relay}\r\nFrom-Path: {c.uri}\r\n"
            f"-------{t}$\r\n")),
        ("bad To-Path URI", lambda c, t: (
            f"MSRP {t} SEND\r\nTo-Path: http://x\r\nFrom-Path: {c.uri}\r\n"
            f"Message-ID: 1\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
            f"-------{t}$\r\n")),
    ]
    for label, build in cases:
        log(f"\n=== parse error: {label} ===")
        c = Client("c", ARGS.port)
        t = secrets.token_hex(4)
        c.send_raw(build(c, t).encode())
        f = c.recv(1.5)
        resp = f.status if f is not None else None
        # is the connection still usable? send a valid AUTH after it
        alive = None
        if not c.closed:
            try:
                tid = c.request("AUTH", c.relay, c.uri)
                g = c.recv(1.5)
                alive = g is not None
            except OSError as e:
                log(f"  follow-up AUTH failed: {e!r}")
                alive = False
        log(f"  RESULT {label}: response={resp} closed={c.closed} "
            f"connection_usable_after={alive}")
        c.close()


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=int(os.environ.get("MSRP_PORT", 2855)))
    p.add_argument("--tls", action="store_true")
    p.add_argument("--passwd", default="secret")
    p.add_argument("--quiet-body", type=int, default=200)
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("smoke")
    s = sub.add_parser("size")
    s.add_argument("sizes", type=int, nargs="+")
    ch = sub.add_parser("chunked")
    ch.add_argument("--total", type=int, default=65536)
    ch.add_argument("--chunk", type=int, default=2048)
    sub.add_parser("expires")
    e = sub.add_parser("expiry")
    e.add_argument("--expires", type=int, default=None)
    e.add_argument("--wait", type=float, default=4)
    sub.add_parser("parse-error")
    sub.add_parser("closed-peer")
    cp = sub.add_parser("chain")
    cp.add_argument("--hop-cert", help="PEM cert: the next hop listens with TLS (msrps)")
    cp.add_argument("--hop-key", help="PEM key for --hop-cert")
    ARGS = p.parse_args()
    {"smoke": scenario_smoke, None: scenario_smoke, "size": scenario_size,
     "expires": scenario_expires, "expiry": scenario_expiry,
     "parse-error": scenario_parse_error, "closed-peer": scenario_closed_peer, "chain": scenario_chain, "chunked": scenario_chunked}[ARGS.cmd]()
    log("\nSUMMARY: " + ("all checks passed" if not FAILED else f"{len(FAILED)} failed: {FAILED}"))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
