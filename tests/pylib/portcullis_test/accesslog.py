# SPDX-License-Identifier: GPL-2.0-or-later
"""The access log of `portcullis run`: Istio's TCP format, as text or JSON.

parse_access_line(line) -> a dict with ACCESS_KEYS (addresses normalised by
norm_addr, numbers as int, flags as a frozenset), requested_server_name (the
SNI, None for "-"), and for an HTTP request's line also method, path,
protocol, response_code, authority, ...; or ValueError.
"""
import json
import re

ACCESS_KEYS = ("start_time", "response_flags", "bytes_received", "bytes_sent", "duration",
               "upstream_host", "upstream_cluster", "downstream_local_address",
               "downstream_remote_address")
# Istio's default format as TCP fills it (reference §7.3), one token per field:
# [START] "- - -" 0 FLAGS - TERM "-" RX TX MS - "-" "-" "-" "-" "UPSTREAM" CLUSTER - ODST CLIENT - -
TOKEN_RE = re.compile(r'"[^"]*"|\S+')  # START_TIME has no blanks
# UPSTREAM_LOCAL_ADDRESS (the proxy's end of the upstream connection) may be "-".
# TERM (CONNECTION_TERMINATION_DETAILS) is "-" or e.g. portcullis_policy_revoked.
TEXT_FIELDS = {0: "start_time", 3: "response_flags", 5: "connection_termination_details",
               7: "bytes_received", 8: "bytes_sent",
               9: "duration", 15: "upstream_host", 16: "upstream_cluster",
               17: "upstream_local_address", 18: "downstream_local_address",
               19: "downstream_remote_address", 20: "requested_server_name"}
TEXT_FIXED = {1: '"- - -"', 2: "0", 4: "-", 6: '"-"', 10: "-", 11: '"-"', 12: '"-"',
              13: '"-"', 14: '"-"', 21: "-"}
# An HTTP request's line (issue 11) fills the fields TCP leaves fixed: the request
# ("METHOD PATH PROTOCOL"), the response code, RESPONSE_CODE_DETAILS, the upstream
# service time, X-FORWARDED-FOR, USER-AGENT, X-REQUEST-ID, :AUTHORITY, ROUTE_NAME.
HTTP_FIELDS = {2: "response_code", 4: "response_code_details", 11: "x_forwarded_for",
               12: "user_agent", 13: "request_id", 14: "authority", 21: "route_name"}



def norm_addr(value):
    """'1.2.3.4:5', '[::1]:5' or '::1:5' -> '1.2.3.4:5' / '[::1]:5'; '-', '', None -> None."""
    if value in (None, "", "-"):
        return None
    value = str(value)
    if value.startswith("["):
        return value
    host, _, port = value.rpartition(":")
    return f"[{host}]:{port}" if ":" in host else value


def parse_access_line(line):
    """One access-log line (text or JSON) -> dict with ACCESS_KEYS, or raise ValueError."""
    if line.startswith("{"):
        obj = json.loads(line)
        missing = [k for k in ACCESS_KEYS if k not in obj]
        if missing:
            raise ValueError(f"JSON access-log line lacks {missing}")
        e = {k: obj[k] for k in ACCESS_KEYS}
        e["upstream_local_address"] = obj.get("upstream_local_address")
        e["connection_termination_details"] = obj.get("connection_termination_details")
        e["requested_server_name"] = obj.get("requested_server_name")
        for k in ("method", "path", "protocol", "response_code", "authority"):
            if obj.get(k) not in (None, "", "-"):
                e[k] = obj[k]
        e["format"] = "json"
    else:
        tokens = TOKEN_RE.findall(line)
        if len(tokens) != 22:
            raise ValueError(f"{len(tokens)} fields, not 22")
        http = tokens[1] != '"- - -"'  # an HTTP request's line
        for i, want in TEXT_FIXED.items():
            if tokens[i] != want and not (http and (i == 1 or i in HTTP_FIELDS or i == 10)):
                raise ValueError(f"field {i + 1} is {tokens[i]!r}, not {want!r}")
        e = {k: tokens[i] for i, k in TEXT_FIELDS.items()}
        if http:
            request = tokens[1].strip('"').split(" ")
            if len(request) != 3:
                raise ValueError(f"field 2 is {tokens[1]!r}, not a request line")
            e["method"], e["path"], e["protocol"] = request
            for i, k in HTTP_FIELDS.items():
                e[k] = tokens[i].strip('"')
        e["start_time"] = e["start_time"].strip("[]")
        e["upstream_host"] = e["upstream_host"].strip('"')
        e["format"] = "text"
    for k in ("bytes_received", "bytes_sent", "duration"):
        e[k] = int(e[k])
    for k in ("upstream_host", "upstream_local_address", "downstream_local_address",
              "downstream_remote_address"):
        e[k] = norm_addr(e[k])
    e["response_flags"] = e["response_flags"] if e["response_flags"] not in (None, "") else "-"
    if e["requested_server_name"] in ("-", ""):
        e["requested_server_name"] = None  # no SNI: TCP, or TLS without one
    if e["connection_termination_details"] in ("-", ""):
        e["connection_termination_details"] = None  # e.g. portcullis_policy_revoked
    e["flags"] = frozenset() if e["response_flags"] == "-" else \
        frozenset(e["response_flags"].split(","))
    e["line"] = line
    return e

