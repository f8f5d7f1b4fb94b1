"""What the benchmarks read from the machine: CPU time and memory of a process, core pinning, load."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


# The cores this run may use, read before the generator pins itself to one of them.
_CORES = sorted(os.sched_getaffinity(0))


def cores() -> list[int]:
    return _CORES


def server_core() -> int:
    return cores()[0]


def generator_core() -> int:
    return cores()[-1]


@contextlib.contextmanager
def pinned(core: int) -> Iterator[None]:
    """Run the block on one core: processes started inside inherit it, threads and all."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_generator() -> None:
    os.sched_setaffinity(0, {generator_core()})


def raise_fd_limit() -> int:
    """Thousands of sockets per process: lift the soft descriptor limit to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, every thread included."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def run_queue_wait(pid: int) -> float:
    """Seconds the process's main thread has spent runnable but waiting for a core (other
    processes had it): on a shared machine, the time a process was starved."""
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[1]) / 1e9


@dataclass
class Window:
    """Wall time and CPU use (in cores) of the servers and of this generator over a measurement,
    and the share of the time each main thread waited for a core."""

    seconds: float = 0.0
    server_cpu: float = 0.0
    generator_cpu: float = 0.0
    server_starved: float = 0.0
    generator_starved: float = 0.0


@contextlib.contextmanager
def measured(server_pids: list[int]) -> Iterator[Window]:
    window = Window()
    started, own = time.perf_counter(), time.process_time()
    servers = sum(cpu_seconds(pid) for pid in server_pids)
    waits = [run_queue_wait(pid) for pid in server_pids]
    own_wait = run_queue_wait(os.getpid())
    try:
        yield window
    finally:
        window.seconds = time.perf_counter() - started
        # Summed over the servers: two processes on two cores can show up to 2.0.
        window.server_cpu = (sum(cpu_seconds(pid) for pid in server_pids) - servers) / window.seconds
        window.generator_cpu = (time.process_time() - own) / window.seconds
        window.server_starved = (
            max((run_queue_wait(pid) - before for pid, before in zip(server_pids, waits, strict=True)), default=0.0)
            / window.seconds
        )
        window.generator_starved = (run_queue_wait(os.getpid()) - own_wait) / window.seconds


def load_average() -> float:
    return os.getloadavg()[0]
