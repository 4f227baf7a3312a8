# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake of the API of `portcullis run` (doc/api.md) for the CLI tests.

FakeAPI listens on a Unix socket (or, with tcp=True, on 127.0.0.1), records
every request (method, path, query, headers, body, multipart parts) and
answers from canned replies: api.reply("GET", "/v1/objects", 200, {...})
queues one reply for that method and path; the last queued reply of a route
is repeated. A reply body may be a dict/list (sent as compact JSON, as the
daemon sends it), bytes, or a Stream of lines for a watch.
"""
import json
import os
import re
import socketserver
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler


@dataclass
class Part:
    name: str
    filename: str
    data: bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    parts: list = field(default_factory=list)

    def param(self, key):
        v = self.query.get(key)
        return v[0] if v else None


@dataclass
class Stream:
    """A streamed (watch) body: lines written one by one, <delay> s apart."""
    lines: list
    delay: float = 0.0


def parse_multipart(ctype, body):
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    parts = []
    for p in msg.iter_parts():
        # The raw filename: email's get_filename() would strip the <> of "<stdin>".
        m = re.search(r'filename="((?:[^"\\]|\\.)*)"', str(p["Content-Disposition"]))
        parts.append(Part(p.get_param("name", header="content-disposition"),
                          m.group(1) if m else None, p.get_payload(decode=True) or b""))
    return parts


def encode(body):
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return json.dumps(body, separators=(",", ":")).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def _handle(self):
        api = self.server.api
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        req = Request(self.command, url.path, urllib.parse.parse_qs(url.query),
                      dict(self.headers.items()), body)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            req.parts = parse_multipart(ctype, body)
        api.requests.append(req)
        status, rbody, rtype = api.next_reply(self.command, url.path)
        if status is None:  # hang up without answering
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", rtype)
        if isinstance(rbody, Stream):
            self.end_headers()
            self.wfile.flush()
            for line in rbody.lines:
                if rbody.delay:
                    time.sleep(rbody.delay)
                data = line if isinstance(line, bytes) else encode(line) + b"\n"
                self.wfile.write(data)
                self.wfile.flush()
            return
        data = encode(rbody)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = _handle


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeAPI:
    def __init__(self, directory, tcp=False):
        self.requests = []
        self.routes = {}
        self.lock = threading.Lock()
        if tcp:
            self.server = _TCPServer(("127.0.0.1", 0), Handler)
            self.addr = "127.0.0.1:%d" % self.server.server_address[1]
        else:
            self.path = os.path.join(str(directory), "api.sock")
            self.server = _UnixServer(self.path, Handler)
            self.addr = "unix:" + self.path
        self.server.api = self
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def reply(self, method, path, status, body=None, ctype="application/json"):
        with self.lock:
            self.routes.setdefault((method, path), []).append((status, body, ctype))

    def next_reply(self, method, path):
        with self.lock:
            q = self.routes.get((method, path))
            if not q:
                return 404, status_body(404, "NotFound", "no such API path"), "application/json"
            return q.pop(0) if len(q) > 1 else q[0]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def status_body(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "code": code, "message": message}
