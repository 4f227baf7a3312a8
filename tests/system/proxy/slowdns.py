# SPDX-License-Identifier: GPL-2.0-or-later
"""A DNS server that answers slowly: every A question gets <--answer> after
<--delay> seconds (TTL <--ttl>), every other question an empty NOERROR
answer after the same delay. Each question is answered from its own thread,
so questions overlap as they would at a loaded server. Prints "ready" once
it listens; SIGTERM ends it.

    python3 slowdns.py --listen 192.0.2.2 --answer 198.51.100.2 --delay 0.3
"""
import argparse
import signal
import socket
import struct
import sys
import threading
import time


def answer(query, ip, ttl):
    qid, flags = struct.unpack("!HH", query[:4])
    off = 12
    while query[off]:
        off += query[off] + 1
    qtype, = struct.unpack("!H", query[off + 1:off + 3])
    question = query[12:off + 5]
    an = 1 if qtype == 1 else 0
    head = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, an, 0, 0)
    rr = b""
    if an:
        rr = struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + socket.inet_aton(ip)
    return head + question + rr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--answer", required=True)
    ap.add_argument("--delay", type=float, default=0.3)
    ap.add_argument("--ttl", type=int, default=1)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.listen, 53))
    print("ready", flush=True)

    def reply(data, peer):
        time.sleep(args.delay)
        try:
            s.sendto(answer(data, args.answer, args.ttl), peer)
        except (OSError, IndexError, struct.error):
            pass

    while True:
        data, peer = s.recvfrom(4096)
        print("query", peer[0], peer[1], flush=True)
        threading.Thread(target=reply, args=(data, peer), daemon=True).start()


if __name__ == "__main__":
    main()
