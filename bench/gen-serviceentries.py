#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write N distinct ServiceEntries as one multi-document YAML stream.

    gen-serviceentries.py N [OUT]      (OUT defaults to standard output)

Entry i is se-<i> for host svc-<i>.example.com with one address that no
other entry uses: the first 256 come from 198.51.100.0/24 and the next 256
from 203.0.113.0/24 (the documentation ranges), then they alternate between
2001:db8::<i>/128 and a computed 10.x.y.z/32. One TCP port 3306 + i % 100,
MESH_EXTERNAL, resolution NONE: every entry is valid.
"""
import sys


def address(i):
    if i < 256:
        return f"198.51.100.{i}"
    if i < 512:
        return f"203.0.113.{i - 256}"
    if i % 2:
        return f"2001:db8::{i >> 16:x}:{i & 0xffff:x}/128"  # each group <= ffff
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32"


def entry(i):
    return (f"---\n"
            f"apiVersion: networking.istio.io/v1\n"
            f"kind: ServiceEntry\n"
            f"metadata:\n"
            f"  name: se-{i}\n"
            f"  namespace: bench\n"
            f"spec:\n"
            f"  hosts:\n"
            f"  - svc-{i}.example.com\n"
            f"  addresses:\n"
            f"  - {address(i)}\n"
            f"  ports:\n"
            f"  - number: {3306 + i % 100}\n"
            f"    name: tcp\n"
            f"    protocol: TCP\n"
            f"  location: MESH_EXTERNAL\n"
            f"  resolution: NONE\n")


def main(argv):
    if len(argv) not in (2, 3) or not argv[1].isdigit() or int(argv[1]) >= 1 << 24:
        sys.stderr.write("usage: gen-serviceentries.py N [OUT]  (N < 16777216)\n")
        return 2
    n = int(argv[1])
    out = open(argv[2], "w", encoding="ascii") if len(argv) == 3 else sys.stdout
    with out:
        for i in range(n):
            out.write(entry(i))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
