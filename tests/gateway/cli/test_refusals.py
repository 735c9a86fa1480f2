"""What a tester threw at ``gbagw``, through the real console script: one clear line (or one
JSON object under ``--json``) and the documented exit code, never a traceback or an internal
error. Exit codes (docs/configuration.md): 1 read and refused, 2 usage or unreadable input,
3 configuration.

Families: every file a command reads is bounded and read strictly (size, depth, repeated keys);
the sandbox's configuration is checked before it says it serves; numbers of seconds are finite
and in range; ``--json`` is honoured by results and errors alike; choices (states, agencies,
agency codes) are checked, not silently matched against nothing; the same mistake exits the
same way in every command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.devkit.examples import bundled_examples
from signing import KeyDirectory

GBAGW = str(Path(sys.executable).with_name("gbagw"))
EXAMPLE = next(p for p in bundled_examples() if p.stem == "pension-proof-of-life-hk")
CLOSED_URL = "http://127.0.0.1:9"  # discard: nothing listens
LIMIT = 1_000_000  # GBAGW_MAX_INPUT_BYTES' default


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"exit {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


@pytest.fixture
def scratch(tmp_path: Path, keys: KeyDirectory) -> Path:
    """A working directory whose store is its own (SQLite) and whose keys are the session's."""
    (tmp_path / "var").mkdir()
    return tmp_path


def gbagw(scratch: Path, keys: KeyDirectory, *args: str, timeout: float = 60) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env |= {
        "GBAGW_KEYS": str(keys.path),
        "GBAGW_DATABASE_URL": f"sqlite:///{scratch / 'var' / 'gateway.db'}",
        "GBAGW_DATA_KEYS": "test:" + "A" * 43 + "=",
    }
    done = subprocess.run(
        [GBAGW, *args],
        cwd=scratch,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def clean(run: Run) -> None:
    assert "Traceback" not in run.stdout + run.stderr, run.output
    assert "internal error" not in run.stderr, run.output


def one_line(run: Run) -> str:
    clean(run)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.output
    return lines[0]


# --- every file a command reads: bounded, and JSON read like an application -------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
MATERIAL = {"fileName": "a.pdf", "mediaType": "application/pdf", "size": 1, "sha256": "0" * 64}


def _repeated_size() -> bytes:
    body = json.dumps(MATERIAL)
    return body.replace('"size": 1', '"size": 1, "size": 99').encode()


HOSTILE_FILES = {
    "deep": (lambda: DEEP, 1, "nested deeper"),
    "repeated-key": (_repeated_size, 1, "duplicate key"),
    "too-large": (lambda: b" " * (LIMIT + 1), 1, f"larger than {LIMIT} bytes"),
    "not-json": (lambda: b'{"size": ', 1, "not valid JSON"),
}
READERS = {
    "text review": lambda f: ("text", "review", str(f)),
    "supplement": lambda f: ("supplement", "GBA-x", "--material", f"M04={f}"),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE_FILES))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_hostile_json_file_is_refused_in_one_line(scratch, keys, reader, hostile) -> None:
    make, code, says = HOSTILE_FILES[hostile]
    f = scratch / "input.json"
    f.write_bytes(make())
    run = gbagw(scratch, keys, *READERS[reader](f))
    line = one_line(run)
    assert run.returncode == code, run.output
    assert says in line and str(f) in line, run.output


@pytest.mark.parametrize("reader", sorted(READERS))
def test_dev_zero_is_refused_before_it_is_read_whole(scratch, keys, reader) -> None:
    run = gbagw(scratch, keys, *READERS[reader]("/dev/zero"), timeout=30)
    assert run.returncode == 1, run.output
    assert f"/dev/zero: larger than {LIMIT} bytes" in one_line(run)


def test_text_review_still_reads_a_json_array_of_texts(scratch, keys) -> None:
    f = scratch / "texts.json"
    f.write_text(json.dumps(["银行发卡", "发卡业务"], ensure_ascii=False), "utf-8")
    run = gbagw(scratch, keys, "text", "review", "--region", "HK", "--json", str(f))
    clean(run)
    assert run.returncode == 0, run.output
    assert isinstance(json.loads(run.stdout), list)


def test_supplement_json_errors_have_the_shape_of_validate_json_errors(scratch, keys) -> None:
    f = scratch / "m.json"
    f.write_bytes(_repeated_size())
    supplement = gbagw(scratch, keys, "supplement", "--json", "GBA-x", "--material", f"M04={f}")
    validate = gbagw(scratch, keys, "validate", "--json", str(f))
    shapes = []
    for run in (supplement, validate):
        clean(run)
        assert run.returncode == 1, run.output
        shapes.append({frozenset(e) for e in json.loads(run.stderr)["errors"]})
    assert shapes[0] == shapes[1] == {frozenset({"path", "message"})}
    (error,) = json.loads(supplement.stderr)["errors"]
    assert error["path"] == "size" and "duplicate key" in error["message"]


# --- the sandbox: configuration checked before it says it serves ------------------------------

SANDBOX_CONFIGS = {
    "missing": (None, 2, "No such file"),
    "directory": ("<dir>", 2, "Is a directory"),
    "not-utf8": (b"region: HK\n\xff\xfe\n", 3, "not valid UTF-8"),
    "bad-yaml": (b"region: [\n", 3, "not valid YAML"),
    "empty": (b"", 3, "empty"),
    "unknown-field": (b"region: HK\nkeys_dir: k\ndatabase: d.db\nnope: 1\n", 3, "nope"),
    "missing-field": (b"region: HK\n", 3, "keys_dir"),
    "other-region": (b"region: MO\nkeys_dir: k\ndatabase: d.db\n", 3, "region HK"),
}


@pytest.mark.parametrize("case", sorted(SANDBOX_CONFIGS))
def test_a_bad_sandbox_config_is_refused_before_serving(scratch, keys, case) -> None:
    content, code, says = SANDBOX_CONFIGS[case]
    config = scratch / "sandbox.yaml"
    if content == "<dir>":
        config.mkdir()
    elif isinstance(content, bytes):
        config.write_bytes(content)
    run = gbagw(scratch, keys, "sandbox", "hk", "--config", str(config))
    clean(run)
    assert run.returncode == code, run.output
    assert says in run.stderr, run.output
    lines = run.stderr.strip().splitlines()  # one per problem, each naming the file
    assert lines and all(str(config) in line for line in lines), run.output
    assert "on http://" not in run.stdout + run.stderr, "announced a sandbox that never served"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("hk", "--db", "{dir}"), "is a directory"),
        (("gd", "--db", "{dir}"), "is a directory"),
        (("gd", "--secret", "notasecret"), "--secret must be whsec_"),
        (("gd", "--secret", "whsec_QUJD"), "--secret must be whsec_"),  # 3 bytes
        (("gd", "--unavailable-seconds", "-1"), "--unavailable-seconds"),
        (("gd", "--unavailable-seconds", "inf"), "--unavailable-seconds"),
        (("gd", "--unavailable-requests", "-1"), "--unavailable-requests"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else None,
)
def test_a_bad_sandbox_option_is_a_usage_error(scratch, keys, args, says) -> None:
    run = gbagw(scratch, keys, "sandbox", *(a.format(dir=scratch) for a in args), timeout=30)
    clean(run)
    assert run.returncode == 2, run.output
    assert says in run.stderr, run.output
    assert "notasecret" not in run.stderr, "a secret is never printed"
    assert "on http://" not in run.stdout + run.stderr


# --- numbers of seconds: finite and in range ---------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf"])
def test_send_timeout_must_be_a_finite_number_above_0(scratch, keys, value) -> None:
    run = gbagw(scratch, keys, "send", "--to", "hk", "--url", CLOSED_URL, "--timeout", value, "-")
    clean(run)
    assert run.returncode == 2, run.output
    assert "'--timeout'" in run.stderr, run.output


@pytest.mark.parametrize(
    "args",
    [
        ("outbox", "wait", "--timeout", "nan"),
        ("outbox", "wait", "--timeout", "-1"),
        ("demo", "--timeout", "inf"),
        ("cases", "list", "--limit", "0"),
        ("api", "--port", "-1"),
        ("api", "--workers", "0"),
    ],
    ids=" ".join,
)
def test_numeric_options_out_of_range_are_usage_errors(scratch, keys, args) -> None:
    run = gbagw(scratch, keys, *args)
    clean(run)
    assert run.returncode == 2, run.output
    assert f"'{args[-2]}'" in run.stderr, run.output


# --- --json: results and errors --------------------------------------------------------------


def test_send_json_prints_one_json_object(scratch, keys) -> None:
    run = gbagw(scratch, keys, "send", "--json", "--to", "hk", "--url", CLOSED_URL, str(EXAMPLE))
    clean(run)
    assert run.returncode == 1, run.output  # nothing listens: not delivered
    record = json.loads(run.stdout)
    assert record["outcome"] != "delivered" and record["case_ref"].startswith("GBA-")
    assert "Connection refused" in record["detail"]


def test_cases_show_json_error_is_json(scratch, keys) -> None:
    run = gbagw(scratch, keys, "cases", "show", "--json", "GBA-nope")
    clean(run)
    assert run.returncode == 1, run.output
    assert json.loads(run.stderr) == {"errors": [{"path": "", "message": "no case GBA-nope"}]}


# --- choices are checked, matched ignoring case, in every list command ------------------------


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("cases", "list", "--state", "bogus"), 2, "--state must be one of"),
        (("cases", "list", "--state", "completed"), 0, "0 cases"),
        (("cases", "list", "--state", "FILED"), 0, "0 cases"),
        (("cases", "list", "--agency", "NOPE"), 2, "HK-TD"),
        (("cases", "list", "--agency", "hk-td"), 0, "0 cases"),
        (("outbox", "list", "--state", "bogus"), 2, "--state must be one of"),
        (("outbox", "list", "--state", "DEAD"), 0, "0 outbox rows"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else None,
)
def test_list_filters_are_checked(scratch, keys, args, code, says) -> None:
    run = gbagw(scratch, keys, *args)
    clean(run)
    assert run.returncode == code, run.output
    assert says in run.stdout + run.stderr, run.output


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--url", "ftp://127.0.0.1/"), "--url"),
        (("--url", CLOSED_URL, "--code", "NOPE"), "--code must be one of"),
        (("--url", CLOSED_URL, "--code", "MO-DSAT"), "--code must be one of"),
    ],
    ids=["ftp-url", "unknown-code", "code-of-another-region"],
)
def test_conformance_refuses_bad_arguments_before_any_check(scratch, keys, extra, says) -> None:
    run = gbagw(scratch, keys, "conformance", "--agency", "hk", *extra)
    assert run.returncode == 2, run.output
    assert says in one_line(run)
    assert run.stdout == "", "no check may run"


# --- the same mistake, the same exit code -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("clients", "add", "bad name!", "--role", "platform"), "client name"),
        (("clients", "add", "someone", "--role", "admin"), "expected platform"),
        (("clients", "add", "someone", "--role", "agency:HK-NOPE"), "no agency HK-NOPE"),
        (("mappings", "validate", "/nonexistent"), "cannot read /nonexistent"),
        (("file", "-", "-"), "standard input (-) can be read only once"),
        (("supplement", "GBA-x", "--material", "A=-", "--material", "B=-"), "read only once"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else None,
)
def test_bad_arguments_exit_2(scratch, keys, args, says) -> None:
    run = gbagw(scratch, keys, *args)
    clean(run)
    assert run.returncode == 2, run.output
    assert says in run.stderr, run.output


# --- help says what the command does ----------------------------------------------------------


def test_help_describes_what_validate_and_api_do(scratch, keys) -> None:
    validate = gbagw(scratch, keys, "validate", "--help")
    assert "nothing but errors" not in validate.stdout and "valid FILE" in validate.stdout
    api = " ".join(gbagw(scratch, keys, "api", "--help").stdout.split())
    for said in ("/v1/", "/agencies/v1/", "push receivers", "/metrics", "/readyz"):
        assert said in api, api


# --- names the agencies' schemas refuse: refused at intake by field, the value unsaid ----------

VEHICLE = next(p for p in bundled_examples() if p.stem == "northbound-vehicle-hk")


def test_a_name_the_agencies_refuse_is_rejected_by_field_without_the_value(scratch, keys) -> None:
    application = json.loads(VEHICLE.read_text(encoding="utf-8"))
    application["applicationNo"] = "GDZW-20250318-990003"
    application["applicant"]["nameLatin"]["surname"] = "CHANTAIMAN-"
    refused = scratch / "refused.json"
    refused.write_text(json.dumps(application, ensure_ascii=False), encoding="utf-8")
    surname = "applicant.nameLatin.surname"

    # validate says so (it called it valid), and file reports it and still files the next one
    checked = gbagw(scratch, keys, "validate", str(refused))
    assert checked.returncode == 1 and surname in one_line(checked), checked.output
    filed = gbagw(scratch, keys, "file", str(refused), str(EXAMPLE))
    clean(filed)
    assert filed.returncode == 1, filed.output
    assert f"rejected {refused}: {surname}" in filed.stderr and "filed GBA-" in filed.stdout
    rendered = gbagw(scratch, keys, "render", "--to", "hk", str(refused))
    assert rendered.returncode == 1 and surname in one_line(rendered), rendered.output
    for run in (checked, filed, rendered):
        assert "CHANTAIMAN" not in run.stdout + run.stderr
