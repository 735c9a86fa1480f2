"""Every ``gbagw`` command and subcommand behaves alike: found by walking the typer app.

A command added tomorrow is checked without editing this file: help exits 0 and shows flags
as flags, a key directory is always ``--keys``, ``--json`` is a flag, usage mistakes exit 2
without a traceback, and messages are never hard-wrapped when piped. Each check lists every
offender, not just the first. What click decides before a command runs (help, unknown options,
missing arguments) is checked in-process for speed; whatever a command does itself goes
through the real console script, several subprocesses at once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gateway.cli import app

GBAGW = str(Path(sys.executable).with_name("gbagw"))
#: a command still running after this long with no arguments is a server: Ctrl-C stops it
SERVER_GRACE = 8.0


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``command`` (typer vendors click: duck-typed)."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            yield from walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = list(walk(ROOT))
LEAVES = [(path, cmd) for path, cmd in COMMANDS if not hasattr(cmd, "commands")]


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def options(command: Any) -> list[Any]:
    return [p for p in command.params if getattr(p, "param_type_name", "") == "option"]


def name(path: tuple[str, ...]) -> str:
    return " ".join(("gbagw", *path))


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    interrupted: bool = False

    def show(self) -> str:
        said = (self.stdout + self.stderr).strip()
        tail = said[-1500:] if len(said) > 1500 else said
        how = " (still running: stopped with SIGTERM)" if self.interrupted else ""
        return f"$ gbagw {' '.join(self.args)} -> exit {self.returncode}{how}\n{tail}"


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env.update(HOME=str(home), COLUMNS="80", TERM="dumb")
    env.pop("FORCE_COLOR", None)
    return env


def gbagw(*args: str, timeout: float = 60.0, grace: float | None = None) -> Run:
    """Run ``gbagw`` piped, in a scratch directory with ``HOME`` and ``GBAGW_*`` isolated.

    With ``grace``, a command still running after that many seconds (a server, or a slow
    machine) is stopped with SIGTERM; what it printed until then is still judged.
    """
    with tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.Popen(
            [GBAGW, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=scratch,
            env=isolated_env(Path(scratch)),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=grace if grace is not None else timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM if grace is not None else signal.SIGKILL)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            if grace is None:
                err += f"\n(killed after {timeout}s)"
            return Run(args, proc.returncode, out, err, interrupted=grace is not None)
        return Run(args, proc.returncode, out, err)


def run_all(argvs: list[tuple[str, ...]], **kwargs: Any) -> list[Run]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda argv: gbagw(*argv, **kwargs), argvs))


def traceback_in(run: Run) -> bool:
    return "Traceback (most recent call last)" in run.stdout + run.stderr


def offenders(runs: list[Run], bad: Callable[[Run], bool]) -> str:
    return "\n\n".join(run.show() for run in runs if bad(run))


# --- help -------------------------------------------------------------------------------------


def invoke(*args: str) -> Run:
    """``gbagw ARGS`` in this process, for what click decides before any command code runs
    (help, unknown options, missing arguments): the same output, without a second's start-up
    per command. Anything a command itself does is checked with the real script (gbagw)."""
    result = CliRunner().invoke(app, list(args), prog_name="gbagw", env={"COLUMNS": "80"})
    said = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        said += "".join(traceback.format_exception(result.exception))
    return Run(args, result.exit_code, result.stdout, said)


def test_the_walk_finds_the_subcommands() -> None:
    """A sanity check that the walk descends into groups (typer's click is vendored)."""
    names = {name(path) for path, _ in COMMANDS}
    assert {"gbagw validate", "gbagw render", "gbagw keys init", "gbagw mappings validate"} <= names


def test_every_help_exits_0_and_shows_flags_as_flags() -> None:
    runs = [invoke(*path, "--help") for path, _ in COMMANDS]
    problems = offenders(
        runs,
        lambda r: (
            r.returncode != 0
            or traceback_in(r)
            or not r.stdout.startswith("Usage: gbagw")
            or re.search(r"<bool(ean)?>|\bBOOLEAN\b", r.stdout) is not None
        ),
    )
    assert not problems, problems


def test_the_real_script_prints_help() -> None:
    runs = run_all([("--help",), ("keys", "init", "--help"), ("validate", "--help")])
    problems = offenders(runs, lambda r: r.returncode != 0 or "Usage: gbagw" not in r.stdout)
    assert not problems, problems


@pytest.mark.xfail(
    strict=True,
    reason="defect: list-valued parameters show as <list[str]> in --help (gbagw verify FILE, "
    "file, outbox redrive): typer prints the annotation when no metavar is given",
)
def test_every_help_names_values_not_python_types() -> None:
    """Metavars say what to type (``<path>``, ``CODE``), not ``<list[str]>`` or ``NoneType``."""
    runs = [invoke(*path, "--help") for path, _ in COMMANDS]
    problems = offenders(runs, lambda r: re.search(r"<[a-z]+\[|NoneType", r.stdout) is not None)
    assert not problems, problems


# --- options ----------------------------------------------------------------------------------


def annotation(parameter: Any) -> Any:
    """The parameter's Python type (typer 0.29 keeps it in ``type_descriptor``)."""
    descriptor = getattr(parameter, "type_descriptor", None)
    if descriptor is not None:
        return descriptor.annotation
    return getattr(getattr(parameter, "type", None), "name", None)


def takes_a_key_directory(option: Any) -> bool:
    if option.is_flag:
        return False
    names = set(option.opts) | set(option.secondary_opts)
    envvar = option.envvar if isinstance(option.envvar, list | tuple) else [option.envvar]
    said = (option.help or "").lower()
    return (
        bool(names & {"--keys", "--dir", "--keys-dir", "--key-dir"})
        or "GBAGW_KEYS" in envvar
        or "key directory" in said
        or "$gbagw_keys" in said
    )


def test_a_key_directory_is_always_called_keys() -> None:
    found, wrong = 0, []
    for path, command in LEAVES:
        for option in options(command):
            if takes_a_key_directory(option):
                found += 1
                if "--keys" not in option.opts:
                    wrong.append(f"{name(path)}: {'/'.join(option.opts)}")
    assert found >= 5, "the walk found too few key-directory options to be checking anything"
    assert wrong == [], "key directory options without --keys: " + ", ".join(wrong)


def test_keys_means_a_key_directory_everywhere() -> None:
    wrong = [
        f"{name(path)}: --keys ({option.help})"
        for path, command in LEAVES
        for option in options(command)
        if "--keys" in option.opts and not takes_a_key_directory(option)
    ]
    assert wrong == []


def test_every_json_option_is_a_flag() -> None:
    wrong = [
        f"{name(path)}: {'/'.join(option.opts + option.secondary_opts)}"
        for path, command in LEAVES
        for option in options(command)
        if "--json" in option.opts
        and (not option.is_flag or option.secondary_opts or option.opts != ["--json"])
    ]
    assert wrong == [], "--json must be a plain flag: " + ", ".join(wrong)


def test_every_boolean_option_is_a_flag() -> None:
    wrong = [
        f"{name(path)}: {'/'.join(option.opts)}"
        for path, command in LEAVES
        for option in options(command)
        if annotation(option) in (bool, "boolean") and not option.is_flag
    ]
    assert wrong == [], "boolean options that take a value: " + ", ".join(wrong)


def takes_a_number(option: Any) -> bool:
    return annotation(option) in (float, int, "float", "integer") and not option.is_flag


def number_options() -> list[tuple[tuple[str, ...], str]]:
    return [
        (path, option.opts[0])
        for path, command in LEAVES
        for option in options(command)
        if takes_a_number(option)
    ]


def refuse_numbers(numbers: list[tuple[tuple[str, ...], str]], value: str) -> str:
    runs = [(opt, invoke(*path, opt, value)) for path, opt in numbers]
    return "\n\n".join(
        run.show()
        for opt, run in runs
        if run.returncode != 2 or traceback_in(run) or f"'{opt}'" not in run.stderr
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_every_number_option_refuses_what_is_not_a_count_or_a_duration(value) -> None:
    """Seconds, limits, ports, workers: none is negative or infinite, none is NaN (a deadline
    of NaN never comes; a timeout of -1 reached the HTTP client as an internal error), and the
    refusal names the option. An int option refuses "nan" by its type; a float one needs
    ``min=`` and a finiteness check (gateway.cli.common.finite / positive)."""
    numbers = number_options()
    assert len(numbers) >= 10, "the walk found too few number options to be checking anything"
    problems = refuse_numbers(numbers, value)
    assert not problems, problems


# --- usage mistakes ---------------------------------------------------------------------------


def required(command: Any) -> bool:
    return any(p.required for p in command.params)


def test_no_arguments_is_usage_for_groups_and_required_parameters() -> None:
    runs = [invoke(*path) for path, command in COMMANDS if is_group(command) or required(command)]
    problems = offenders(
        runs,
        lambda r: r.returncode != 2 or traceback_in(r) or "Usage: gbagw" not in r.stdout + r.stderr,
    )
    assert not problems, problems


def test_no_arguments_runs_the_others_cleanly() -> None:
    """A command with nothing required runs as given (real script, scratch directory, no
    ``GBAGW_*``); a server still running after a few seconds is stopped. Never a traceback,
    never an internal error, only documented exit codes."""
    argvs = [p for p, c in COMMANDS if not is_group(c) and not required(c)]
    assert argvs, "no command without required parameters: the walk is broken"
    runs = run_all(argvs, grace=SERVER_GRACE)
    problems = offenders(
        runs,
        lambda r: (
            traceback_in(r)
            or "internal error" in r.stderr
            or (not r.interrupted and r.returncode not in (0, 1, 2, 3))
        ),
    )
    assert not problems, problems


def test_ctrl_c_stops_the_embedded_gateway_cleanly() -> None:
    """``gbagw run`` says "Ctrl-C stops it": once it is up, Ctrl-C ends it without a trace."""
    seen: list[str] = []
    ready = threading.Event()
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [GBAGW, "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,  # a file: a chatty stderr cannot fill a pipe and block it
            text=True,
            cwd=scratch,
            env=isolated_env(Path(scratch)),
            start_new_session=True,  # its own group, as a terminal's foreground job
        )
        assert proc.stdout is not None
        stdout = proc.stdout

        def watch() -> None:
            for line in stdout:
                seen.append(line)
                if "Ctrl-C" in line:
                    ready.set()
            ready.set()  # ended early: the assertions below say how

        reader = threading.Thread(target=watch, daemon=True)
        reader.start()
        try:
            assert ready.wait(90), "gbagw run did not say it was running within 90s"
            assert proc.poll() is None, "gbagw run ended by itself:\n" + "".join(seen)
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(10)
        errors.seek(0)
        said = "".join(seen) + errors.read()
    assert proc.returncode in (0, 130), said
    assert "Traceback" not in said, said


def test_a_bogus_option_is_a_usage_error_everywhere() -> None:
    runs = [invoke(*path, "--no-such-option") for path, _ in COMMANDS]
    problems = offenders(
        runs,
        lambda r: (
            r.returncode != 2
            or traceback_in(r)
            or "No such option: --no-such-option" not in r.stderr
        ),
    )
    assert not problems, problems


def test_a_bogus_option_through_the_real_script() -> None:
    runs = run_all([("validate", "--no-such-option"), ("keys", "init", "--no-such-option")])
    problems = offenders(runs, lambda r: r.returncode != 2 or traceback_in(r))
    assert not problems, problems


def test_a_bogus_subcommand_is_a_usage_error() -> None:
    runs = [invoke(*path, "no-such-command") for path, command in COMMANDS if is_group(command)]
    problems = offenders(
        runs, lambda r: r.returncode != 2 or traceback_in(r) or "No such command" not in r.stderr
    )
    assert not problems, problems


# --- no hard wrap -----------------------------------------------------------------------------


def long_path(tmp_path: Path) -> Path:
    """A path far longer than 80 columns (each component under NAME_MAX)."""
    deep = tmp_path.joinpath(*["a-directory-with-a-long-name-" + str(i) * 20 for i in range(4)])
    deep.mkdir(parents=True)
    return deep


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "{missing}"),
        ("validate", "--json", "{missing}"),
        ("render", "--to", "hk", "{missing}"),
        ("verify", "--keys", "{dir}", "{missing}"),
        ("keys", "list", "--keys", "{dir}"),
        ("keys", "init", "{broken}"),
    ],
    ids=lambda args: " ".join(a for a in args if not a.startswith("{")),
)
def test_long_messages_stay_on_one_line_when_piped(tmp_path, args) -> None:
    deep = long_path(tmp_path)
    missing = deep / "application-that-is-not-there.json"
    broken = deep / "broken-keys"
    broken.mkdir()
    (broken / "trust.yaml").write_text("version: 2\n", "utf-8")
    argv = [a.format(missing=missing, dir=deep, broken=broken) for a in args]
    run = gbagw(*argv)
    assert not traceback_in(run), run.show()
    assert run.returncode in (1, 2, 3), run.show()
    said = run.stdout + run.stderr
    mentioned = str(missing) if "{missing}" in args else str(broken if "{broken}" in args else deep)
    assert len(mentioned) > 100
    lines = [line for line in said.splitlines() if mentioned in line]
    assert lines, f"the message is broken across lines (wrapped at 80 columns?):\n{said}"
