#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The TLS and HTTP servers of the name tests (test_tls.py, test_http.py).

Run in an external host's namespace as
    l7servers.py --name NAME --cert CERT --key KEY [--tls-port 443] [--http-port 80]
Both listen on :: with IPV6_V6ONLY off (so on every v4 and v6 address of the
host), print `ready` once both listen, and one line per event on stdout, so a
test can tell what reached the upstream and what did not:

  accept NAME PORT PEER LOCAL       every accepted TCP connection, either port
  hello NAME PEER LEN SHA256 NREC   the raw bytes of a ClientHello as they came
                                    (NREC TLS records, LEN bytes with headers)
  plain NAME PEER HEX               the first bytes of a connection on the TLS
                                    port that is not TLS at all
  sni NAME PEER SNI                 the server name of a handshake ("-": none)
  tls NAME PEER LINE                a line read over a finished handshake
  request NAME PEER METHOD PATH HOST   every HTTP request the server parsed
  upgrade NAME PEER                 a 101 Switching Protocols answered
  error NAME PEER TEXT              anything that went wrong on a connection

TLS port (the server is OpenSSL, through Python's ssl module, with the
certificate the test made): the ClientHello is read with MSG_PEEK (so the
handshake sees the very same bytes), then the handshake; the server reads one
line and answers `NAME SNI LINE` and closes. Bytes that are not a TLS
handshake record are answered `plain NAME` and the connection closed.

HTTP port (HTTP/1.1, keep-alive): every request is answered 200 with the body
`NAME host=HOST path=PATH` and a Content-Length; a request with `Upgrade:
websocket` gets a minimal 101 (RFC 6455 accept key), then `welcome NAME\\n`,
then every byte is echoed until EOF.
"""
import argparse
import base64
import hashlib
import http.server
import resource
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

HELLO_WAIT = 10  # seconds to wait for a complete ClientHello
IO_TIMEOUT = 30
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OUT = threading.Lock()


def say(*words):
    with OUT:
        print(*words, flush=True)


def hostport(sockaddr):
    host, port = sockaddr[0], sockaddr[1]
    if host.startswith("::ffff:"):
        host = host[7:]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def hello_records(data):
    """Given the first bytes of a connection: (complete?, bytes of the records that
    carry the first handshake message, number of records); None if not TLS."""
    if not data:
        return False, b"", 0
    if data[0] != 0x16:
        return None
    pos, payload, nrec = 0, b"", 0
    while True:
        if len(data) < pos + 5:
            return False, data[:pos], nrec
        if data[pos] != 0x16:
            return None
        n = int.from_bytes(data[pos + 3:pos + 5], "big")
        if len(data) < pos + 5 + n:
            return False, data[:pos], nrec
        payload += data[pos + 5:pos + 5 + n]
        pos += 5 + n
        nrec += 1
        if len(payload) >= 4 and len(payload) >= 4 + int.from_bytes(payload[1:4], "big"):
            return True, data[:pos], nrec


class V6Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 4096

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class TLSHandler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        name = self.server.pc_name
        peer = hostport(self.client_address)
        say("accept", name, self.server.server_address[1], peer, hostport(s.getsockname()))
        s.settimeout(IO_TIMEOUT)
        deadline = time.monotonic() + HELLO_WAIT
        try:
            while True:
                data = s.recv(65536, socket.MSG_PEEK)
                got = hello_records(data)
                if got is None:
                    say("plain", name, peer, data[:64].hex())
                    s.recv(65536)
                    s.sendall(f"plain {name}\n".encode())
                    return
                done, raw, nrec = got
                if done:
                    say("hello", name, peer, len(raw), hashlib.sha256(raw).hexdigest(), nrec)
                    break
                if not data:  # EOF before a whole hello: a client that gave up
                    say("error", name, peer, "eof-before-hello")
                    return
                if time.monotonic() > deadline:
                    say("error", name, peer, f"incomplete-hello-{len(data)}-bytes")
                    return
                time.sleep(0.005)
            t = self.server.pc_ctx.wrap_socket(s, server_side=True)
            sni = getattr(t, "pc_sni", None) or "-"
            say("sni", name, peer, sni)
            line = b""
            while not line.endswith(b"\n"):
                chunk = t.recv(4096)
                if not chunk:
                    break
                line += chunk
            text = line.decode(errors="replace").strip()
            say("tls", name, peer, text or "-")
            t.sendall(f"{name} {sni} {text}\n".encode())
            try:
                t.unwrap()
            except (ssl.SSLError, OSError):
                pass
        except (ssl.SSLError, OSError) as e:
            say("error", name, peer, repr(e).replace(" ", "_"))


class HTTPHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IO_TIMEOUT

    def setup(self):
        super().setup()
        say("accept", self.server.pc_name, self.server.server_address[1],
            hostport(self.client_address), hostport(self.connection.getsockname()))

    def log_message(self, fmt, *args):  # the events above are the log
        pass

    def answer(self):
        name = self.server.pc_name
        peer = hostport(self.client_address)
        host = self.headers.get("Host", "-")
        say("request", name, peer, self.command, self.path, host)
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            key = self.headers.get("Sec-WebSocket-Key", "").encode()
            accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.write(f"welcome {name}\n".encode())
            self.wfile.flush()
            say("upgrade", name, peer)
            while True:
                data = self.rfile.read1(65536)
                if not data:
                    break
                self.wfile.write(data)
                self.wfile.flush()
            self.close_connection = True
            return
        body = f"{name} host={host} path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = answer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--tls-port", type=int, default=443)
    ap.add_argument("--http-port", type=int, default=80)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    threading.stack_size(256 * 1024)  # a thread per connection, up to thousands

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    # called during the handshake with the SSLSocket: remember the name on it
    ctx.sni_callback = lambda sock, server_name, _ctx: setattr(sock, "pc_sni", server_name)
    tls = V6Server(("::", args.tls_port), TLSHandler)
    tls.pc_name, tls.pc_ctx = args.name, ctx
    web = V6Server(("::", args.http_port), HTTPHandler)
    web.pc_name = args.name
    for srv in (tls, web):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    say("ready")
    stop.wait()
    for srv in (tls, web):
        srv.shutdown()
        srv.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
