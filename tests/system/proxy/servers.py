#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The external hosts of the proxy system tests: one process per namespace.

Run as `servers.py --name NAME`; it listens on 0.0.0.0 and :: on every port
below, prints `ready` once all listen, and one line `accept NAME PORT PEER`
per accepted connection, so a test can tell whether (and from where) a
connection arrived. It exits on SIGTERM.

Protocols (client = the test, through the proxy):
  ECHO       7001  echoes every byte until EOF, then closes (half-close aware).
  XFER       7002  sink and source at once. The client sends `XFER UP DOWN\\n`
                   then UP bytes; the server sends DOWN random bytes meanwhile,
                   and once both are done a trailer line
                   `<sha256 of the UP bytes> <sha256 of the DOWN bytes>\\n`,
                   then closes.
  BANNER     7003  server-first, like MySQL: sends BANNER_LINE at once, then
                   answers each line with `GOT <line>` until EOF.
  HALFCLOSE  7004  reads until EOF, then sends `RECEIVED <n> <sha256>\\n` and
                   closes.
  WHOAMI     7005  sends `<name> <local ip:port> <peer ip:port>\\n`, half-closes,
                   and closes at the client's EOF.
"""
import argparse
import asyncio
import hashlib
import os
import resource
import signal
import sys

ECHO, XFER, BANNER, HALFCLOSE, WHOAMI = 7001, 7002, 7003, 7004, 7005
BANNER_LINE = b"220 portcullis-test banner: server speaks first\n"
CHUNK = 256 * 1024


def hostport(sockaddr):
    host, port = sockaddr[0], sockaddr[1]
    if host.startswith("::ffff:"):
        host = host[7:]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def echo(reader, writer):
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        writer.write(data)
        await writer.drain()


async def xfer(reader, writer):
    header = await reader.readline()
    words = header.split()
    if len(words) != 3 or words[0] != b"XFER":
        writer.write(b"ERR bad header\n")
        return
    up, down = int(words[1]), int(words[2])
    got, sent = hashlib.sha256(), hashlib.sha256()

    async def source():
        left = down
        while left > 0:
            chunk = os.urandom(min(left, CHUNK))
            sent.update(chunk)
            writer.write(chunk)
            await writer.drain()
            left -= len(chunk)

    async def sink():
        left = up
        while left > 0:
            chunk = await reader.read(min(left, CHUNK))
            if not chunk:
                raise ConnectionError(f"EOF with {left} of {up} bytes missing")
            got.update(chunk)
            left -= len(chunk)

    await asyncio.gather(source(), sink())
    writer.write(f"{got.hexdigest()} {sent.hexdigest()}\n".encode())
    await writer.drain()


async def banner(reader, writer):
    writer.write(BANNER_LINE)
    await writer.drain()
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(b"GOT " + line)
        await writer.drain()


async def halfclose(reader, writer):
    h, n = hashlib.sha256(), 0
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        h.update(data)
        n += len(data)
    writer.write(f"RECEIVED {n} {h.hexdigest()}\n".encode())
    await writer.drain()


def whoami_for(name):
    async def whoami(reader, writer):
        local = hostport(writer.get_extra_info("sockname"))
        peer = hostport(writer.get_extra_info("peername"))
        writer.write(f"{name} {local} {peer}\n".encode())
        writer.write_eof()
        await writer.drain()
        # Read what the client sends until its EOF: closing with unread bytes
        # would reset the connection and could discard the answer.
        while await reader.read(CHUNK):
            pass
    return whoami


def serve(name, port, handler):
    async def conn(reader, writer):
        sock = writer.get_extra_info("sockname")
        print(f"accept {name} {port} {hostport(writer.get_extra_info('peername'))} "
              f"{hostport(sock)}", flush=True)
        try:
            await handler(reader, writer)
        except (ConnectionError, OSError) as e:
            print(f"error {name} {port} {e!r}", flush=True)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
    return asyncio.start_server(conn, host=["0.0.0.0", "::"], port=port, backlog=4096,
                                reuse_address=True)


async def main(name):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    handlers = {ECHO: echo, XFER: xfer, BANNER: banner, HALFCLOSE: halfclose,
                WHOAMI: whoami_for(name)}
    servers = [await serve(name, port, h) for port, h in handlers.items()]
    print("ready", flush=True)
    await stop
    for s in servers:
        s.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(main(args.name))
    except KeyboardInterrupt:
        sys.exit(1)
