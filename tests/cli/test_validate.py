# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of `portcullis validate`: exit codes, usage, output formats,
inputs (files, directories, stdin, multi-document, List, JSON, anchors) and
the committed samples in tests/data/{valid,invalid}."""
import json
import re

import pytest

from conftest import DATA, REPO

SUMMARY_RE = re.compile(
    r"^(\d+) resources? in (\d+) files?: (\d+) valid, (\d+) invalid; "
    r"(\d+) errors?, (\d+) warnings?$")
JSON_KEYS = {"file", "line", "column", "severity", "kind", "namespace", "name", "path",
             "message"}
SUPPORTED_KINDS = ("ServiceEntry", "VirtualService", "DestinationRule", "Sidecar",
                   "WorkloadEntry")
SUPPORTED_VERSIONS = ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1",
                      "networking.istio.io/v1")


def service_entry(name="ext-db", port=5432, ns=None, host="db.example.com",
                  address="198.51.100.10", api="networking.istio.io/v1"):
    """A valid ServiceEntry; every line below is at a fixed place (see BAD_PORT)."""
    meta = f"  name: {name}\n" + (f"  namespace: {ns}\n" if ns else "")
    return (f"apiVersion: {api}\n"
            "kind: ServiceEntry\n"
            "metadata:\n"
            f"{meta}"
            "spec:\n"
            "  hosts:\n"
            f"  - {host}\n"
            "  addresses:\n"
            f"  - {address}\n"
            "  ports:\n"
            f"  - number: {port}\n"
            "    name: tcp-db\n"
            "    protocol: TCP\n"
            "  location: MESH_EXTERNAL\n"
            "  resolution: NONE\n")


def summary(r):
    """The summary line (last line of stdout) as a tuple of six ints."""
    lines = r.lines()
    assert lines, f"no output\n{r}"
    m = SUMMARY_RE.match(lines[-1])
    assert m, f"last line is not a summary: {lines[-1]!r}\n{r}"
    return tuple(int(x) for x in m.groups())


def json_findings(r):
    doc = json.loads(r.out_bytes.decode("utf-8"))
    assert isinstance(doc, list), r
    for f in doc:
        assert set(f) == JSON_KEYS, f
    return doc


# ---- exit codes and usage ---------------------------------------------------------------

def project_version():
    text = (REPO / "CMakeLists.txt").read_text()
    m = re.search(r"project\(portcullis VERSION ([0-9.]+)", text)
    assert m, "no project VERSION in CMakeLists.txt"
    return m.group(1)


def assert_usage_error(r, needle):
    assert r.rc == 2, r
    assert r.out == "", f"usage errors print nothing on stdout\n{r}"
    assert r.err.startswith("portcullis: "), r
    assert needle in r.err, r


def test_valid_file_exits_0(pc, write):
    path = write("se.yaml", service_entry())
    r = pc.validate("-f", path)
    assert r.rc == 0, r
    assert r.error_lines() == [], r
    assert r.err == "", r
    assert summary(r) == (1, 1, 1, 0, 0, 0)


def test_invalid_file_exits_1(pc, write):
    path = write("se.yaml", service_entry(port=0))
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    assert summary(r) == (1, 1, 0, 1, 1, 0)


def test_no_filename_is_usage_error(pc):
    assert_usage_error(pc.validate(), "give at least one -f PATH")


def test_quiet_alone_is_usage_error(pc):
    assert_usage_error(pc.validate("-q"), "give at least one -f PATH")


@pytest.mark.parametrize("opt", ["--bogus", "--filenames=x"])
def test_unknown_long_option_is_usage_error(pc, write, opt):
    path = write("se.yaml", service_entry())
    assert_usage_error(pc.validate(opt, "-f", path), opt.split("=")[0])


def test_unknown_short_option_is_usage_error(pc, write):
    path = write("se.yaml", service_entry())
    assert_usage_error(pc.validate("-x", "-f", path), "-x")


def test_missing_option_argument_is_usage_error(pc):
    assert_usage_error(pc.validate("-f"), "-f")
    assert_usage_error(pc.validate("-o"), "-o")


@pytest.mark.parametrize("fmt", ["yaml", "JSON", ""])
def test_bad_output_format_is_usage_error(pc, write, fmt):
    path = write("se.yaml", service_entry())
    assert_usage_error(pc.validate("-o", fmt, "-f", path), "unknown output format")


@pytest.mark.parametrize("args, needle", [
    (["--namespace", "Default"], "--namespace needs a namespace name"),
    (["--namespace", ""], "--namespace needs a namespace name"),
    (["--namespace", "a" * 64], "--namespace needs a namespace name"),
    (["--namespace", "x", "--root-namespace", "istio_system"],
     "--root-namespace needs a namespace name"),
    (["--namespace", "x", "--labels", "app=y,app=x"], 'the label "app" is given twice'),
    (["--namespace", "x", "--labels", "app"], '"app" is not KEY=VALUE'),
    (["--namespace", "x", "--labels", "=x"], '"=x" is not KEY=VALUE'),
    (["--namespace", "x", "--labels", "-bad=x"], 'invalid tag key: "-bad"'),
    (["--namespace", "x", "--labels", "app=has space"], 'invalid tag value: "has space"'),
])
def test_workload_flags_are_checked(pc, write, args, needle):
    """A workload the daemon could never be is a usage error, not a scope that
    silently hides everything (--namespace Default) or a selector that matches
    one of two values (app=y,app=x)."""
    path = write("se.yaml", service_entry())
    assert_usage_error(pc.validate(*args, "-f", path), needle)


def test_unexpected_positional_is_usage_error(pc, write):
    path = write("se.yaml", service_entry())
    r = pc.validate("-f", path, str(path))
    assert_usage_error(r, f'unexpected argument "{path}"')


def test_usage_error_wins_over_invalid_input(pc, write):
    path = write("bad.yaml", service_entry(port=0))
    assert pc.validate("-f", path, "-o", "xml").rc == 2


def test_no_verb_is_usage_error(pc):
    r = pc.run()
    assert r.rc == 2, r
    assert "Usage: portcullis" in r.err, r


@pytest.mark.parametrize("verb", ["frobnicate", "Validate", "-v", "--verbose"])
def test_unknown_verb_is_usage_error(pc, verb):
    assert_usage_error(pc.run(verb), f'unknown verb "{verb}"')


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_global_help(pc, args):
    r = pc.run(*args)
    assert r.rc == 0, r
    assert r.out.startswith("Usage: portcullis "), r
    assert "validate" in r.out
    assert r.err == ""


@pytest.mark.parametrize("args", [["validate", "--help"], ["validate", "-h"],
                                  ["help", "validate"], ["validate", "-f", "x", "--help"]])
def test_validate_help(pc, args):
    r = pc.run(*args)
    assert r.rc == 0, r
    assert r.out.startswith("Usage: portcullis validate -f PATH"), r
    for opt in ("--filename", "--output", "--quiet", "--help"):
        assert opt in r.out, opt
    assert r.err == ""


def test_help_validate_equals_validate_help(pc):
    text = pc.run("help", "validate").out
    assert text.startswith("Usage: portcullis validate"), text
    assert text == pc.run("validate", "--help").out


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version(pc, args):
    r = pc.run(*args)
    assert r.rc == 0, r
    assert r.out == f"portcullis {project_version()}\n", r


# ---- text output ------------------------------------------------------------------------

def test_error_line_has_exact_position_and_path(pc, write):
    # "  - number: 70000" is line 11 (with no namespace line); the value starts at column 13.
    path = write("bad-port.yaml", service_entry(name="bad-port", port=70000))
    assert path.read_text().splitlines()[10] == "  - number: 70000"
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1, r
    prefix = f"{path}:11:13: error: ServiceEntry default/bad-port: spec.ports[0].number: "
    assert errs[0].startswith(prefix), r
    msg = errs[0][len(prefix):]
    assert "70000" in msg and "65535" in msg, msg


def test_decode_error_has_exact_position_and_path(pc, write):
    # A negative port fails the typed decode (uint32) before any kind validator runs.
    path = write("neg-port.yaml", service_entry(name="neg-port", port=-1, ns="prod"))
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1, r
    assert errs[0].startswith(
        f"{path}:12:13: error: ServiceEntry prod/neg-port: spec.ports[0].number: "), r
    assert "out of range" in errs[0], r


def test_quoted_number_hint(pc, write):
    path = write("q.yaml", service_entry(port='"5432"'))
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1 and "spec.ports[0].number: " in errs[0], r
    assert "remove the quotes" in errs[0], r


def test_namespace_in_error_line(pc, write):
    path = write("ns.yaml", service_entry(name="x", ns="team-a", port=0))
    errs = pc.validate("-f", path).error_lines()
    assert len(errs) == 1 and " ServiceEntry team-a/x: " in errs[0], errs


def test_all_errors_of_a_resource_are_reported(pc, write):
    text = service_entry(port=0).replace("db.example.com", '"*"').replace(
        "198.51.100.10", "300.1.2.3")
    path = write("many.yaml", text)
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    paths = [ln.split(": ")[3] for ln in r.error_lines()]
    assert "spec.hosts[0]" in paths and "spec.addresses[0]" in paths, r
    assert "spec.ports[0].number" in paths, r
    # sorted by line: hosts (7) < addresses (9) < ports (11)
    lines = [int(ln.split(":")[1]) for ln in r.error_lines()]
    assert lines == sorted(lines), r
    assert summary(r) == (1, 1, 0, 1, len(r.error_lines()), 0)


WARN_ONLY_SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: no-addresses
spec:
  hosts:
  - db.example.com
  ports:
  - number: 3306
    name: tcp-mysql
    protocol: TCP
  resolution: NONE
"""

WARN_ONLY_WE = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: remote
spec:
  network: net-2
"""


@pytest.mark.parametrize("text,needle", [
    (WARN_ONLY_SE, "addresses are required"),
    (WARN_ONLY_WE, 'address is unset with network "net-2"'),
], ids=["se-tcp-without-addresses", "we-network-without-address"])
def test_warnings_only_exits_0(pc, write, text, needle):
    path = write("warn.yaml", text)
    r = pc.validate("-f", path)
    assert r.rc == 0, r
    assert r.error_lines() == [], r
    warns = r.warning_lines()
    assert len(warns) == 1, r
    assert warns[0].startswith(f"{path}:"), r
    assert needle in warns[0], r
    assert summary(r) == (1, 1, 1, 0, 0, 1)


def test_summary_counts_and_plurals(pc, write):
    a = write("a.yaml", service_entry(name="a") + "---\n" + service_entry(name="b", port=0))
    b = write("b.yaml", WARN_ONLY_WE)
    r = pc.validate("-f", a, "-f", b)
    assert r.rc == 1, r
    assert r.lines()[-1] == "3 resources in 2 files: 2 valid, 1 invalid; 1 error, 1 warning"


def test_quiet_drops_summary_only(pc, write):
    path = write("bad.yaml", service_entry(port=0))
    loud = pc.validate("-f", path)
    quiet = pc.validate("-q", "-f", path)
    assert quiet.rc == loud.rc == 1
    assert quiet.lines() == loud.lines()[:-1]
    ok = pc.validate("--quiet", "-f", write("ok.yaml", service_entry()))
    assert ok.rc == 0 and ok.out == "", ok


def test_explicit_text_output(pc, write):
    path = write("bad.yaml", service_entry(port=0))
    r = pc.validate("-o", "text", "-f", path)
    assert r.rc == 1 and len(r.error_lines()) == 1, r
    assert r.out == pc.validate("-f", path).out


# ---- JSON output ------------------------------------------------------------------------

def test_json_output_fields(pc, write):
    path = write("bad-port.yaml", service_entry(name="bad-port", port=70000, ns="prod"))
    r = pc.validate("-o", "json", "-f", path)
    assert r.rc == 1, r
    doc = json_findings(r)
    assert len(doc) == 1, doc
    f = doc[0]
    assert f["file"] == str(path)
    assert (f["line"], f["column"]) == (12, 13)
    assert f["severity"] == "error"
    assert (f["kind"], f["namespace"], f["name"]) == ("ServiceEntry", "prod", "bad-port")
    assert f["path"] == "spec.ports[0].number"
    assert "70000" in f["message"]
    assert "resources in" not in r.out, "no summary line in JSON mode"


def test_json_output_valid_is_empty_array(pc, write):
    r = pc.validate("--output=json", "-f", write("ok.yaml", service_entry()))
    assert r.rc == 0, r
    assert json_findings(r) == []


def test_json_output_warning(pc, write):
    r = pc.validate("-o", "json", "-f", write("w.yaml", WARN_ONLY_WE))
    assert r.rc == 0, r
    doc = json_findings(r)
    assert [f["severity"] for f in doc] == ["warning"], doc
    assert doc[0]["kind"] == "WorkloadEntry" and doc[0]["path"] == "spec.address", doc


def test_json_output_file_level_error_has_nulls(pc, tmp_path):
    missing = tmp_path / "missing.yaml"
    r = pc.validate("-o", "json", "-f", missing)
    assert r.rc == 1, r
    doc = json_findings(r)
    assert len(doc) == 1, doc
    f = doc[0]
    assert f["file"] == str(missing) and f["severity"] == "error"
    assert f["kind"] is None and f["namespace"] is None and f["name"] is None
    assert (f["line"], f["column"]) == (0, 0)


def test_json_output_escapes_strange_keys(pc, write):
    # Quotes, backslashes, tabs and non-ASCII in an unknown field's name end up in the
    # path and the message; the output must still be one valid JSON document.
    text = service_entry().replace("  location:", '  "we\\"ird\\\\key\\t\u00e9": 1\n  location:')
    r = pc.validate("-o", "json", "-f", write("odd.yaml", text))
    assert r.rc == 1, r
    doc = json_findings(r)
    assert len(doc) == 1 and "unknown field" in doc[0]["message"], doc


def test_output_stays_utf8_when_long_names_are_cut(pc, write):
    key = "a" + "\u00e9" * 40  # byte 60 falls inside the 30th "é"
    text = service_entry().replace("  location:", f"  {key}: 1\n  location:")
    r = pc.validate("-o", "json", "-f", write("long-key.yaml", text))
    assert r.rc == 1, r
    r.out_bytes.decode("utf-8")  # strict: raises on a cut sequence
    json_findings(r)


# ---- inputs -----------------------------------------------------------------------------

def test_stdin(pc):
    r = pc.validate("-f", "-", stdin=service_entry())
    assert r.rc == 0, r
    assert summary(r) == (1, 1, 1, 0, 0, 0)


def test_stdin_errors_are_named_stdin(pc):
    r = pc.validate("-f", "-", stdin=service_entry(name="bad-port", port=70000))
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1 and errs[0].startswith(
        "<stdin>:11:13: error: ServiceEntry default/bad-port: spec.ports[0].number: "), r


def test_stdin_from_regular_file(pc, write):
    path = write("se.yaml", service_entry())
    r = pc.validate("-f", "-", stdin=path)
    assert r.rc == 0, r
    assert summary(r) == (1, 1, 1, 0, 0, 0)


def test_stdin_and_file_together(pc, write):
    path = write("bad.yaml", service_entry(name="from-file", port=0))
    r = pc.validate("-f", "-", "-f", path, stdin=service_entry(name="from-stdin"))
    assert r.rc == 1, r
    assert summary(r) == (2, 2, 1, 1, 1, 0)
    assert r.error_lines()[0].startswith(f"{path}:"), r


def make_tree(root):
    """A directory with manifests, ignored files, hidden entries and a subdirectory."""
    def put(rel, text):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def bad(name):
        return service_entry(name=name, port=0)
    put("b.yaml", bad("b"))
    put("a.yml", bad("a"))
    put("C.json", json.dumps(json_se("c", 0), indent=2))
    put("sub/d.yaml", bad("d"))
    put("sub/deeper/e.yaml", bad("e"))
    put("c.yaml", bad("c2"))
    put("notes.txt", "this is not YAML: [\n")
    put("README.md", "# not a manifest\n")
    put("f.yaml.bak", "garbage: [\n")
    put("yaml", "garbage: [\n")
    put(".hidden.yaml", "garbage: [\n")
    put(".git/config.yaml", "garbage: [\n")
    put("sub/.secret/x.yaml", "garbage: [\n")
    return ["C.json", "a.yml", "b.yaml", "c.yaml", "sub/d.yaml", "sub/deeper/e.yaml"]


def json_se(name, port):
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "ServiceEntry",
        "metadata": {"name": name},
        "spec": {
            "hosts": [f"{name}.example.com"],
            "addresses": ["203.0.113.5"],
            "ports": [{"number": port, "name": "tcp", "protocol": "TCP"}],
            "resolution": "NONE",
        },
    }


def test_directory_recursive_sorted_filtered(pc, tmp_path):
    root = tmp_path / "manifests"
    expected = make_tree(root)
    r = pc.validate("-f", root)
    assert r.rc == 1, r
    files = [ln.split(":")[0] for ln in r.error_lines()]
    assert files == [str(root / rel) for rel in expected], r
    assert summary(r) == (6, 6, 0, 6, 6, 0)


def test_directory_trailing_slash(pc, tmp_path):
    root = tmp_path / "m"
    make_tree(root)
    r = pc.validate("-f", f"{root}/")
    assert summary(r)[1] == 6, r
    assert all("//" not in ln.split(":")[0] for ln in r.error_lines()), r


def test_directory_of_valid_files(pc, tmp_path):
    root = tmp_path / "ok"
    (root / "x").mkdir(parents=True)
    (root / "one.yaml").write_text(service_entry(name="one"))
    (root / "x" / "two.json").write_text(json.dumps(json_se("two", 443)))
    r = pc.validate("-f", root)
    assert r.rc == 0, r
    assert summary(r) == (2, 2, 2, 0, 0, 0)


def test_symlinks_files_followed_directories_not(pc, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bad.yaml").write_text(service_entry(name="outside", port=0))
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.yaml").symlink_to(outside / "bad.yaml")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    r = pc.validate("-f", root)
    assert r.rc == 1, r
    files = [ln.split(":")[0] for ln in r.error_lines()]
    assert files == [str(root / "link.yaml")], r


def test_empty_directory_is_an_error(pc, tmp_path):
    # kubectl apply -f on an empty directory fails too ("no objects passed")
    (tmp_path / "empty").mkdir()
    r = pc.validate("-f", tmp_path / "empty")
    assert r.rc == 1, r
    assert "no *.yaml, *.yml or *.json files" in r.err, r
    assert r.error_lines() == []


def test_empty_directory_fails_even_when_later_inputs_pass(pc, tmp_path, write):
    (tmp_path / "empty").mkdir()
    ok = write("ok.yaml", service_entry())
    r = pc.validate("-f", tmp_path / "empty", "-f", ok)
    assert r.rc == 1, r


def test_empty_filename_is_usage_error(pc):
    assert_usage_error(pc.validate("-f", ""), "-f needs a file")


def test_help_of_unknown_verb_is_usage_error(pc):
    r = pc.run("help", "bogus")
    assert r.rc == 2, r
    assert 'unknown verb "bogus"' in r.err, r


def test_deep_directory_tree_is_not_silently_skipped(pc, tmp_path):
    d = tmp_path / "tree"
    for _ in range(70):
        d = d / "d"
    d.mkdir(parents=True)
    (d / "bad.yaml").write_text(service_entry(port=0))
    r = pc.validate("-f", tmp_path / "tree")
    assert r.rc == 1, r


def test_multiple_f_in_argument_order(pc, write):
    z = write("z.yaml", service_entry(name="z", port=0))
    a = write("a.yaml", service_entry(name="a", port=0))
    r = pc.validate("-f", z, "--filename", a, f"--filename={z}")
    assert r.rc == 1, r
    files = [ln.split(":")[0] for ln in r.error_lines()]
    assert files == [str(z), str(a), str(z)], r
    assert summary(r)[:2] == (3, 3)


def test_missing_file(pc, tmp_path):
    missing = tmp_path / "nope.yaml"
    r = pc.validate("-f", missing)
    assert r.rc == 1, r
    assert r.error_lines() == [f"{missing}: error: cannot open: No such file or directory"], r


def test_missing_file_does_not_stop_the_others(pc, write, tmp_path):
    ok = write("ok.yaml", service_entry())
    r = pc.validate("-f", tmp_path / "nope.yaml", "-f", ok)
    assert r.rc == 1, r
    assert len(r.error_lines()) == 1, r
    assert summary(r) == (1, 2, 1, 0, 1, 0)


def test_unreadable_file(pc):
    # Opens fine but read(2) fails (EIO at offset 0), even for root.
    r = pc.validate("-f", "/proc/self/mem")
    assert r.rc == 1, r
    assert r.error_lines() == ["/proc/self/mem: error: cannot read: Input/output error"], r


def test_multi_document(pc, write):
    text = ("# leading comment\n---\n" + service_entry(name="one") + "---\n" +
            "---\n# an empty document in between\n---\n" +
            service_entry(name="two", port=0) + "...\n---\n" + service_entry(name="three"))
    path = write("multi.yaml", text)
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1 and "ServiceEntry default/two: spec.ports[0].number" in errs[0], r
    # the second document's port line, counted in the whole file
    want = text.splitlines().index("  - number: 0") + 1
    assert errs[0].startswith(f"{path}:{want}:13: "), (want, r)
    assert summary(r) == (3, 1, 2, 1, 1, 0)


def test_kind_list(pc, write):
    text = ("apiVersion: v1\nkind: List\nitems:\n" +
            "".join("- " + json.dumps(json_se(n, p)) + "\n"
                    for n, p in (("l1", 443), ("l2", 0), ("l3", 3306))))
    r = pc.validate("-f", write("list.yaml", text))
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1 and "ServiceEntry default/l2: spec.ports[0].number" in errs[0], r
    assert errs[0].split(":")[1] == "5", r
    assert summary(r) == (3, 1, 2, 1, 1, 0)


def test_kind_list_valid(pc, write):
    text = json.dumps({"apiVersion": "v1", "kind": "List",
                       "items": [json_se("j1", 443), json_se("j2", 80)]})
    r = pc.validate("-f", write("list.json", text))
    assert r.rc == 0, r
    assert summary(r) == (2, 1, 2, 0, 0, 0)


def test_list_in_list_rejected(pc, write):
    text = json.dumps({"apiVersion": "v1", "kind": "List",
                       "items": [{"apiVersion": "v1", "kind": "List", "items": []}]})
    r = pc.validate("-f", write("nested.json", text))
    assert r.rc == 1, r
    assert any("may not contain another List" in ln for ln in r.error_lines()), r


def test_json_input(pc, write):
    r = pc.validate("-f", write("se.json", json.dumps(json_se("js", 443), indent=2)))
    assert r.rc == 0, r
    assert summary(r) == (1, 1, 1, 0, 0, 0)


def test_json_input_positions(pc, write):
    text = json.dumps(json_se("js", 0), indent=2)
    path = write("se.json", text)
    r = pc.validate("-o", "json", "-f", path)
    assert r.rc == 1, r
    (f,) = json_findings(r)
    lines = text.splitlines()
    want_line = next(i for i, ln in enumerate(lines) if '"number": 0' in ln) + 1
    assert f["line"] == want_line, (f, text)
    assert f["column"] == lines[want_line - 1].index("0,") + 1, (f, text)
    assert f["path"] == "spec.ports[0].number"


@pytest.mark.parametrize("encoding", ["utf-8-bom", "crlf", "utf-16"])
def test_other_encodings_and_line_ends(pc, write, encoding):
    text = service_entry(name="enc", port=0)
    if encoding == "utf-8-bom":
        data = b"\xef\xbb\xbf" + text.encode()
    elif encoding == "crlf":
        data = text.replace("\n", "\r\n").encode()
    else:
        data = text.encode("utf-16")  # with a BOM, as YAML requires
    path = write(f"enc-{encoding}.yaml", data)
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1, r
    assert errs[0].startswith(
        f"{path}:11:13: error: ServiceEntry default/enc: spec.ports[0].number: "), r


def test_comments_everywhere(pc, write):
    text = "# header\n" + "".join(
        ln + "  # trailing\n" if ln.strip() and not ln.endswith(":") else ln + "\n"
        for ln in service_entry().splitlines()) + "# footer\n"
    r = pc.validate("-f", write("c.yaml", text))
    assert r.rc == 0, r
    assert summary(r) == (1, 1, 1, 0, 0, 0)


def test_anchors_aliases_and_merge_keys(pc, write):
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: base
    labels: &labels
      app: db
  spec: &spec
    hosts: [db.example.com]
    addresses: [198.51.100.10]
    ports: &ports
    - {number: 3306, name: tcp-mysql, protocol: TCP}
    resolution: NONE
- apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: copy
    labels: *labels
  spec: *spec
- apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: merged
    labels:
      <<: *labels
      tier: backend
  spec:
    <<: *spec
    hosts: [db2.example.com]
    addresses: [198.51.100.11]
- apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: multi-merge
  spec:
    <<: [{location: MESH_EXTERNAL}, *spec]
    ports: *ports
"""
    r = pc.validate("-f", write("anchors.yaml", text))
    assert r.rc == 0, r
    assert summary(r) == (4, 1, 4, 0, 0, 0)


def test_merged_error_is_reported(pc, write):
    # A bad field that arrives through a merge key is still found (and points at its source).
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: merged-bad
  annotations: &bad
    x: "1"
spec:
  <<: {hosts: [db.example.com], addresses: [198.51.100.1], resolution: NONE}
  ports:
  - <<: {number: 0, name: tcp}
    protocol: TCP
"""
    r = pc.validate("-f", write("m.yaml", text))
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1 and "spec.ports[0].number" in errs[0], r
    assert errs[0].split(":")[1:3] == ["10", "18"], r


def test_explicit_key_beats_merge(pc, write):
    text = service_entry(port=0).replace(
        "  - number: 0\n", "  - <<: {number: 0}\n    number: 443\n")
    r = pc.validate("-f", write("m.yaml", text))
    assert r.rc == 0, r
    assert summary(r) == (1, 1, 1, 0, 0, 0)


def test_duplicate_key_names_both_positions(pc, write):
    text = service_entry().replace("  name: ext-db\n", "  name: ext-db\n  name: other\n")
    path = write("dup.yaml", text)
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1, r
    assert errs[0].startswith(f"{path}:5:3: error: "), r
    assert 'duplicate key "name"' in errs[0] and "line 4, column 3" in errs[0], r


def test_duplicate_key_in_json(pc, write):
    path = write("dup.json", '{"apiVersion": "networking.istio.io/v1",\n "kind": "Sidecar",\n'
                             ' "kind": "Sidecar", "metadata": {"name": "x"}, "spec": {}}\n')
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1 and errs[0].startswith(f"{path}:3:2: "), r
    assert 'duplicate key "kind"' in errs[0] and "line 2, column 2" in errs[0], r


@pytest.mark.parametrize("where,bad,good,path", [
    ("spec", "hostz", "hosts", "spec.hostz"),
    ("top", "specs", "spec", "specs"),
    ("meta", "namepsace", "namespace", "metadata.namepsace"),
    ("port", "protocl", "protocol", "spec.ports[0].protocl"),
])
def test_unknown_field_did_you_mean(pc, write, where, bad, good, path):
    base = service_entry()
    if where == "spec":
        text = base.replace("  location:", f"  {bad}: [x.example.com]\n  location:")
    elif where == "top":
        text = base + f"{bad}: {{}}\n"
    elif where == "meta":
        text = base.replace("  name: ext-db\n", f"  name: ext-db\n  {bad}: prod\n")
    else:
        text = base.replace("    protocol: TCP\n", f"    protocol: TCP\n    {bad}: TCP\n")
    f = write("typo.yaml", text)
    r = pc.validate("-f", f)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1, r
    assert f": {path}: " in errs[0], r
    assert f'unknown field "{bad}" (did you mean "{good}"?)' in errs[0], r
    line = next(i for i, ln in enumerate(text.splitlines()) if bad in ln) + 1
    assert errs[0].split(":")[1] == str(line), r


@pytest.mark.parametrize("kind", ["Service", "Gateway", "ServiceEntries"])
def test_wrong_kind_names_supported(pc, write, kind):
    path = write("k.yaml", service_entry().replace("kind: ServiceEntry", f"kind: {kind}"))
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = [ln for ln in r.error_lines() if f'unsupported kind "{kind}"' in ln]
    assert len(errs) == 1, r
    assert errs[0].startswith(f"{path}:2:7: error: {kind} default/ext-db: kind: "), r
    for k in SUPPORTED_KINDS:
        assert k in errs[0], (k, r)


@pytest.mark.parametrize("kind", ["serviceentry", "se", "ServiceEntries",
                                  "serviceentries.networking.istio.io"])
def test_wrong_kind_suggests(pc, write, kind):
    path = write("k.yaml", service_entry().replace("kind: ServiceEntry", f"kind: {kind}"))
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    assert any('(did you mean "ServiceEntry"?)' in ln for ln in r.error_lines()), r


def test_missing_kind(pc, write):
    r = pc.validate("-f", write("k.yaml", service_entry().replace("kind: ServiceEntry\n", "")))
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1 and "kind is missing" in errs[0], r
    for k in SUPPORTED_KINDS:
        assert k in errs[0], k


@pytest.mark.parametrize("api", ["networking.istio.io/v2", "v1", "security.istio.io/v1",
                                 "networking.istio.io"])
def test_wrong_api_version_names_supported(pc, write, api):
    path = write("a.yaml", service_entry(api=api))
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert len(errs) == 1, r
    assert errs[0].startswith(f"{path}:1:13: error: "), r
    assert f': apiVersion: unsupported apiVersion "{api}"' in errs[0], r
    for v in SUPPORTED_VERSIONS:
        assert v in errs[0], (v, r)


@pytest.mark.parametrize("api", SUPPORTED_VERSIONS)
def test_every_supported_api_version(pc, write, api):
    r = pc.validate("-f", write("a.yaml", service_entry(api=api)))
    assert r.rc == 0, r
    assert summary(r) == (1, 1, 1, 0, 0, 0)


# ---- the committed samples --------------------------------------------------------------

def sample_files(kind):
    d = DATA / kind
    if not d.is_dir():
        return []
    return sorted(p for p in d.rglob("*") if p.suffix in (".yaml", ".yml", ".json")
                  and not any(part.startswith(".") for part in p.relative_to(d).parts))


VALID = sample_files("valid")
INVALID = sample_files("invalid")


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_sample_directories_exist(kind):
    assert sample_files(kind), f"no samples in tests/data/{kind}"


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_sample(pc, path):
    r = pc.validate("-f", path)
    assert r.rc == 0, r
    assert r.error_lines() == [], r
    res, files, valid, invalid, errors, _ = summary(r)
    assert (files, invalid, errors) == (1, 0, 0) and valid == res >= 1, r


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_sample(pc, path):
    r = pc.validate("-f", path)
    assert r.rc == 1, r
    errs = r.error_lines()
    assert errs, r
    assert all(ln.startswith(f"{path}:") for ln in errs), r
    assert summary(r)[4] == len(errs), r
    j = pc.validate("-o", "json", "-f", path)
    assert j.rc == 1
    assert len([f for f in json_findings(j) if f["severity"] == "error"]) == len(errs)


def test_valid_directory_as_a_whole(pc):
    r = pc.validate("-f", DATA / "valid")
    assert r.rc == 0, r
    assert summary(r)[1] == len(VALID), r


def test_invalid_directory_as_a_whole(pc):
    r = pc.validate("-f", DATA / "invalid")
    assert r.rc == 1, r
    assert summary(r)[1] == len(INVALID), r
    files = {ln.split(":")[0] for ln in r.error_lines()}
    assert files == {str(p) for p in INVALID}, "every invalid sample has an error"


def test_errors_past_the_finding_cap_still_fail(pc, write):
    # 110 duplicate-host warnings fill the 100-finding cap before the one error
    # (egressProxy without ALLOW_ANY) is found: it is not listed, but counted.
    hosts = "".join(f"    - ./h{i}.example.com\n    - ./h{i}.example.com\n" for i in range(110))
    text = ("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\n"
            "spec:\n  egress:\n  - hosts:\n" + hosts +
            "  outboundTrafficPolicy:\n    mode: REGISTRY_ONLY\n"
            "    egressProxy: {host: proxy.example.com, port: {number: 3128}}\n")
    r = pc.validate("-f", write("cap.yaml", text))
    assert r.rc == 1, r
    assert r.error_lines() == [], r
    assert any("too many findings" in ln for ln in r.warning_lines()), r
    assert summary(r) == (1, 1, 0, 1, 1, 110), r
