"""The README, followed literally by a new user on a fresh clone: every ```sh command, in order.

Nothing here names a README command: the blocks are read from README.md as it is now, so a
command added to it is run the next time. Each line loses its comment; ``./dev gbagw …`` and
``./dev demo`` become the installed ``gbagw …`` (``./dev`` would only create the virtualenv
first — the commands are the point); ``./dev test`` is this suite and is the one line left out.
The lines run one after another in one bash (variables such as ``gw=$(ls …)`` carry over) in a
scratch copy of the repository's files, with ``HOME`` and every ``GBAGW_*`` variable isolated.
A line ending with ``&`` starts a server: it runs in the background, the test waits until its
``--port`` answers (without one: until it has printed something and gone quiet), and every
server is stopped at the end. Every other line must exit 0 within its timeout. ```console
blocks show a production shell (real hosts, placeholders) and are not run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
#: seconds one README command may take (``gbagw demo`` included)
COMMAND_TIMEOUT = 120.0
#: seconds a background server has to start answering on its port
SERVER_TIMEOUT = 60.0

#: ```sh blocks are what to run; ```console ones show a production shell (hosts, placeholders)
_BLOCK = re.compile(r"^```(?:sh|bash|shell)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_SUITE = re.compile(r"^\./dev\s+test\b")
_PORT = re.compile(r"--port[= ](\d+)")


@dataclass(frozen=True)
class Step:
    """One README command, as written and as run."""

    written: str
    command: str

    @property
    def background(self) -> bool:
        return self.command.endswith("&") and not self.command.endswith("&&")

    @property
    def port(self) -> int | None:
        found = _PORT.search(self.command)
        return int(found.group(1)) if found else None


def strip_comment(line: str) -> str:
    """``line`` without its ``# comment`` (a ``#`` starting a word, outside quotes)."""
    quote = None
    previous = " "
    for at, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                pass
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and previous.isspace():
            return line[:at].rstrip()
        previous = ch
    return line.rstrip()


def logical_lines(block: str) -> list[str]:
    """The block's commands: comments removed, backslash continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = strip_comment(raw)
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        line = (pending + line.strip()).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def translate(line: str) -> str:
    """``./dev gbagw ARGS`` → ``gbagw ARGS``; ``./dev demo`` → ``gbagw demo``."""
    line = re.sub(r"(?<![\w./])\./dev\s+gbagw\b", "gbagw", line)
    return re.sub(r"(?<![\w./])\./dev\s+demo\b", "gbagw demo", line)


def readme_steps(text: str) -> list[Step]:
    steps = []
    for block in _BLOCK.findall(text):
        for line in logical_lines(block):
            if _SUITE.match(line):
                continue
            steps.append(Step(written=line, command=translate(line)))
    return steps


def test_the_readme_parser_reads_what_a_user_reads() -> None:
    block = (
        "```sh\n"
        "./dev demo    # first\n"
        "./dev test    # the suite\n"
        "./dev gbagw keys init var/keys   # keys\n"
        "                                 # (a comment-only line)\n"
        'x=$(ls "a # b" | tail -1)   # not a comment inside quotes\n'
        './dev gbagw render --key "$x" \\\n'
        "      in.json > out.xml\n"
        "./dev gbagw sandbox hk --port 8701 &   # server\n"
        "```\n"
    )
    steps = readme_steps(block)
    assert [s.command for s in steps] == [
        "gbagw demo",
        "gbagw keys init var/keys",
        'x=$(ls "a # b" | tail -1)',
        'gbagw render --key "$x" in.json > out.xml',
        "gbagw sandbox hk --port 8701 &",
    ]
    assert steps[-1].background and steps[-1].port == 8701
    assert not steps[0].background


def fresh_copy(destination: Path) -> None:
    """The repository's files as a clone would have them: tracked files, plus new files not
    yet committed (what the next commit will hold), never ignored ones (``.venv``, ``var``)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8", "surrogateescape")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    env.update(
        HOME=str(home),
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
    )
    return env


def port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Shell:
    """One bash the README's lines are typed into, one at a time, like a terminal."""

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path):
        self.logs = logs
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            text=True,
            start_new_session=True,  # one process group: the servers end with it
        )

    def _type(self, script: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(script + "\n")
        self.proc.stdin.flush()

    def run(self, index: int, command: str, timeout: float) -> tuple[int | None, str]:
        """Exit status (None on timeout) and combined output of ``command``."""
        out, status = self.logs / f"{index}.out", self.logs / f"{index}.rc"
        self._type(
            f"{{ {command}\n}} > {shlex.quote(str(out))} 2>&1 < /dev/null\n"
            f"echo $? > {shlex.quote(str(status))}.tmp && "
            f"mv {shlex.quote(str(status))}.tmp {shlex.quote(str(status))}"
        )
        deadline = time.monotonic() + timeout
        while not status.exists():
            if self.proc.poll() is not None:
                return -1, _read(out) + f"\n(the shell exited with {self.proc.returncode})"
            if time.monotonic() > deadline:
                return None, _read(out)
            time.sleep(0.05)
        return int(status.read_text().strip()), _read(out)

    def start(self, index: int, command: str) -> tuple[Path, int]:
        """Start ``command`` (ending with ``&``) in the background: its log and its pid."""
        log, pid = self.logs / f"{index}.server.log", self.logs / f"{index}.pid"
        self._type(
            f"{{ {command[:-1].rstrip()}\n}} > {shlex.quote(str(log))} 2>&1 < /dev/null &\n"
            f"echo $! > {shlex.quote(str(pid))}.tmp && "
            f"mv {shlex.quote(str(pid))}.tmp {shlex.quote(str(pid))}"
        )
        deadline = time.monotonic() + 30
        while not pid.exists():
            assert time.monotonic() < deadline, f"the shell did not start {command}"
            time.sleep(0.05)
        return log, int(pid.read_text().strip())

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # servers that outlived the shell are in its process group too
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except FileNotFoundError:
        return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by the shell) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def wait_until_ready(step: Step, log: Path, pid: int) -> str | None:
    """None once the server answers on its ``--port`` or, without one, once it has printed
    something and then gone quiet; else why not."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    size, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if not alive(pid):
            return "ended instead of serving"
        if step.port is not None:
            if port_answers(step.port):
                return None
        else:
            now_size = log.stat().st_size if log.exists() else 0
            if now_size != size:
                size, quiet_since = now_size, time.monotonic()
            elif size > 0 and time.monotonic() - quiet_since > 1.5:
                return None
        time.sleep(0.1)
    return f"was not ready after {SERVER_TIMEOUT:.0f}s"


def report(step: Step, number: int, why: str, output: str) -> str:
    shown = output if len(output) < 6000 else output[:3000] + "\n…\n" + output[-3000:]
    return (
        f"README command {number} {why}:\n  as written: {step.written}\n"
        f"  as run:     {step.command}\n--- output ---\n{shown}"
    )


def test_following_the_readme_literally_works(tmp_path: Path) -> None:
    steps = readme_steps(README.read_text("utf-8"))
    assert steps, "README.md has no ```sh commands"
    untranslated = [s.written for s in steps if re.search(r"(?<![\w./])\./dev\b", s.command)]
    assert not untranslated, (
        f"./dev subcommands this test cannot run without installing: {untranslated}"
    )

    clone, home, logs = tmp_path / "clone", tmp_path / "home", tmp_path / "logs"
    home.mkdir()
    logs.mkdir()
    fresh_copy(clone)
    assert not (clone / "var").exists() and not (clone / ".venv").exists()

    shell = Shell(clone, isolated_env(home), logs)
    try:
        for number, step in enumerate(steps, 1):
            if step.background:
                if step.port is not None and port_answers(step.port):
                    pytest.fail(
                        f"port {step.port} is already in use on 127.0.0.1, so README command "
                        f"{number} ({step.written}) cannot start its server"
                    )
                log, pid = shell.start(number, step.command)
                why = wait_until_ready(step, log, pid)
                if why is not None:
                    pytest.fail(report(step, number, why, _read(log)))
                continue
            status, output = shell.run(number, step.command, COMMAND_TIMEOUT)
            if status is None:
                pytest.fail(report(step, number, f"took over {COMMAND_TIMEOUT:.0f}s", output))
            if status != 0:
                pytest.fail(report(step, number, f"exited {status}", output))
            assert "Traceback (most recent call last)" not in output, report(
                step, number, "printed a traceback", output
            )
    finally:
        shell.close()
