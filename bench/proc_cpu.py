"""CPU and memory of processes from /proc, for the benches: who spent what during a window.

A :class:`CpuWindow` snapshots the CPU seconds of named process groups at its start and its end;
a process born in between counts from zero, one that died in between is lost (its parent's
"reaped children" fields pick it up only once it is waited for).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pid: int, *, reaped: bool = True) -> float:
    """User + system CPU seconds of ``pid`` (with ``reaped``, and of its waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11 : 15 if reaped else 13]) / TICK


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pids_matching(test: Callable[[str], bool]) -> list[int]:
    """Pids whose command line (NULs as spaces) passes ``test``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if test(cmdline):
            found.append(int(entry.name))
    return found


Groups = Callable[[], dict[str, list[int]]]


class CpuWindow:
    """CPU seconds per group of processes between :meth:`start` and :meth:`stop`.

    ``groups`` is called at both ends (a group's processes may change: a pool child replaced,
    a database backend connected); each pid is counted by its own CPU only, not its reaped
    children's, so a tree is not counted twice.
    """

    def __init__(self, groups: Groups):
        self.groups = groups
        self.before: dict[int, float] = {}
        self.spent: dict[str, float] = {}

    def start(self) -> None:
        self.before = {
            pid: cpu_seconds(pid, reaped=False) for pids in self.groups().values() for pid in pids
        }

    def stop(self) -> dict[str, float]:
        self.spent = {
            name: sum(cpu_seconds(p, reaped=False) - self.before.get(p, 0.0) for p in pids)
            for name, pids in self.groups().items()
        }
        return self.spent
