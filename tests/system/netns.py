# SPDX-License-Identifier: GPL-2.0-or-later
"""Network namespaces for the system tests here (test_iptables.py).

The implementation is the harness library's (portcullis_test.netns); this
module keeps the names the tests import:
* Netns      -- one named namespace (`ip netns add`): run commands in it,
                read its iptables rules.
* netns      -- fixture: a factory, netns() -> a fresh Netns, deleted when
                the test ends, pass or fail.
* sh()       -- run a command with a hang guard; raise CommandError with its
                output on failure.

Addresses used by tests come only from loopback and 192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24, and only inside namespaces made here.
"""
from portcullis_test.netns import (CMD_TIMEOUT, CommandError, Netns, netns,  # noqa: F401
                                   normalise_save, sh)
