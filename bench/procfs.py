"""What /proc says about a gunicorn master and its workers: CPU time and memory."""

from __future__ import annotations

import os
from pathlib import Path

#: One clock tick in seconds, the unit of the CPU times in /proc/<pid>/stat.
TICK = 1 / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of *pid*, from /proc/<pid>/task/*/children or, failing that, a scan."""
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.update(int(child) for child in (task / "children").read_text().split())
        return sorted(found)
    except OSError:
        pass
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if _stat_fields(int(entry.name))[1] == str(pid):
                    found.add(int(entry.name))
            except OSError:
                continue
    return sorted(found)


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on; the name in parentheses may hold spaces."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of *pid* so far (utime and stime, fields 14 and 15)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) * TICK


def reaped_children_cpu(pid: int) -> float:
    """CPU time of the children *pid* has waited for (cutime and cstime, fields 16 and 17):
    workers that gunicorn restarted (max_requests) keep counting after they are gone."""
    fields = _stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) * TICK


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of *pid*, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def workers_cpu(master: int) -> float:
    """CPU seconds of all workers of *master*, live and already ended."""
    total = reaped_children_cpu(master)
    for pid in children(master):
        try:
            total += cpu_seconds(pid)
        except OSError:  # ended between the listing and the read; reaped next time
            continue
    return total


def workers_memory(master: int) -> dict[int, dict[str, int]]:
    """VmRSS and VmHWM of every live worker of *master* (ended ones and zombies left out)."""
    found = {}
    for pid in children(master):
        try:
            memory = memory_kib(pid)
        except OSError:
            continue
        if "VmRSS" in memory and "VmHWM" in memory:
            found[pid] = memory
    return found
