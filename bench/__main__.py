"""The benchmark suite: workloads A to D against chatd, and A and C against a bare ``websockets``
reference server in the same run. Server and generator on different cores; every figure the median
of several runs; results as JSON, a Markdown table and a chart.

    .venv/bin/python -m bench run --quick            # minutes: smaller N, shorter runs
    .venv/bin/python -m bench run --full             # the figures in docs/performance.md
    .venv/bin/python -m bench run --smoke --out DIR  # seconds: tiny N, checks correctness only (CI)
    .venv/bin/python -m bench run --full --only A,C  # some workloads
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import platform
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import fanout, firm_day, idle, machine, report, resume_storm
from bench.workload import chatd_servers, median, reference_server, say
from tests.support import stop_postgres_cluster


@dataclass(frozen=True)
class Plan:
    repeats: int
    fanout_sizes: tuple[int, ...]
    fanout_seconds: float
    latency_size: int
    latency_rate: float
    latency_seconds: float
    day_users: int
    day_seconds: float
    day_start_rate: float
    day_max_steps: int
    day_setups: tuple[tuple[str, int], ...]
    idle_connections: int
    storm_clients: int
    storm_missed: int


PLANS = {
    "smoke": Plan(1, (20,), 0.5, 20, 20, 0.5, 20, 0.5, 10, 2, (("sqlite", 1),), 50, 20, 10),
    "quick": Plan(3, (100, 1000), 3, 1000, 5, 4, 400, 2, 10, 30, (("sqlite", 1), ("postgresql", 2)), 2000, 500, 100),
    "full": Plan(
        3,
        (100, 1000, 5000),
        6,
        1000,
        5,
        8,
        2000,
        4,
        10,
        30,
        (("sqlite", 1), ("postgresql", 2)),
        10_000,
        2000,
        100,
    ),
}


class Suite:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.results: dict[str, Any] = {}
        self.loads: list[float] = []

    def data_dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir()
        return path

    def sample_load(self) -> None:
        self.loads.append(machine.load_average())

    async def fanout(self) -> None:
        plan, out = self.plan, self.results.setdefault("A", {})
        say("A. room fan-out")
        users = min(max(plan.fanout_sizes), 100)
        with chatd_servers(self.data_dir("fanout")) as chatd_target, reference_server() as ref_target:
            rooms = {
                "chatd": fanout.Fanout(await fanout.chatd_room(chatd_target, self.workdir / "fanout", users)),
                "websockets": fanout.Fanout(fanout.reference_room(ref_target)),
            }
            for n in plan.fanout_sizes:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in rooms}
                for name, room in rooms.items():
                    say(f"  connecting {n:,} receivers to {name}")
                    await room.grow(n)
                for repeat in range(plan.repeats):
                    self.sample_load()
                    for name, room in rooms.items():
                        result = await room.saturate(plan.fanout_seconds)
                        fanout.report(f"N={n:,} {name} run {repeat + 1}/{plan.repeats}", result)
                        runs[name].append(result)
                out[f"saturation_{n}"] = {name: summarize(r) for name, r in runs.items()}
                if n == plan.latency_size:
                    lat: dict[str, list[dict[str, Any]]] = {name: [] for name in rooms}
                    for repeat in range(plan.repeats):
                        for name, room in rooms.items():
                            result = await room.latency(plan.latency_rate, plan.latency_seconds)
                            fanout.report(f"N={n:,} {name} at {plan.latency_rate:g} msgs/s, run {repeat + 1}", result)
                            lat[name].append(result)
                    out["latency"] = {name: summarize(r) for name, r in lat.items()}
            for room in rooms.values():
                await room.close()

    async def firm_day(self) -> None:
        plan, out = self.plan, self.results.setdefault("B", {})
        say("B. a firm's day")
        for database, processes in plan.day_setups:
            label = f"{database}, {processes} process{'es' if processes > 1 else ''}"
            data_dir = self.data_dir(f"day-{database}-{processes}")
            with chatd_servers(data_dir, processes=processes, database=database) as target:
                say(f"  {label}: seeding {plan.day_users:,} users in {plan.day_users // 2:,} threads")
                firm = await firm_day.seed(target, data_dir, plan.day_users)
                day = firm_day.Day(target, firm)
                await day.connect()
                runs = []
                for repeat in range(plan.repeats):
                    self.sample_load()
                    say(f"    run {repeat + 1}/{plan.repeats}")
                    result = await day.ladder(plan.day_start_rate, plan.day_seconds, label, plan.day_max_steps)
                    say(f"    {label} run {repeat + 1}: {result['sustained_per_s']:,.0f} msgs/s sustained")
                    runs.append(result)
                await day.close()
            out[f"{database}_{processes}"] = summarize(runs)

    async def idle(self) -> None:
        plan, out = self.plan, self.results.setdefault("C", {})
        say(f"C. {plan.idle_connections:,} idle connections")
        runs: dict[str, list[dict[str, Any]]] = {"chatd": [], "websockets": []}
        for repeat in range(self.plan.repeats):
            self.sample_load()
            data_dir = self.data_dir(f"idle-{repeat}")
            with chatd_servers(data_dir) as target:
                tokens = await idle.client_tokens(target, data_dir, 50)
                result = await idle.measure(target, tokens, plan.idle_connections)
                target.chatd[0].stop(9)
            runs["chatd"].append(result)
            with reference_server() as target:
                runs["websockets"].append(await idle.measure(target, [None], plan.idle_connections))
            for name, r in runs.items():
                say(f"    {name} run {repeat + 1}: {r[-1]['kib_per_connection']:.1f} KiB per connection")
        out.update({name: summarize(r) for name, r in runs.items()})

    async def resume_storm(self) -> None:
        plan, out = self.plan, self.results.setdefault("D", {})
        say(f"D. resume storm: {plan.storm_clients:,} clients, {plan.storm_missed} missed messages each")
        data_dir = self.data_dir("storm")
        runs = []
        with chatd_servers(data_dir) as target:
            setup = await resume_storm.seed(target, data_dir, min(plan.storm_clients, 200))
            for repeat in range(plan.repeats):
                self.sample_load()
                result = await resume_storm.storm(target, setup, plan.storm_clients, plan.storm_missed, f"r{repeat}")
                say(
                    f"    run {repeat + 1}/{plan.repeats}: all live after {result['all_live_s']:.2f} s "
                    f"(server CPU {result['server_cpu']:.0%}, generator CPU {result['generator_cpu']:.0%})"
                    + (
                        ""
                        if result["correct"]
                        else f" -- {result['dropped']} dropped, {result['wrong']} with missing or repeated messages,"
                        f" {result['disordered']} out of order: {result['example']}"
                    )
                )
                runs.append(result)
        out["chatd"] = summarize(runs)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each number over the runs, correctness over all of them, and the runs."""
    summary: dict[str, Any] = {"runs": runs, "correct": all(r["correct"] for r in runs)}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            summary[key] = median([r[key] for r in runs if r.get(key) is not None])
    return summary


WORKLOADS: dict[str, Callable[[Suite], Coroutine[Any, Any, None]]] = {
    "A": Suite.fanout,
    "B": Suite.firm_day,
    "C": Suite.idle,
    "D": Suite.resume_storm,
}


async def run(mode: str, plan: Plan, only: list[str], out: Path) -> bool:
    machine.pin_generator()
    limit = machine.raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="chatd-bench-") as workdir:
        suite = Suite(plan, Path(workdir))
        started = datetime.datetime.now(datetime.UTC)
        say(
            f"chatd benchmark ({mode}): server core {machine.server_core()}, generator core "
            f"{machine.generator_core()}, {limit:,} descriptors, load average {machine.load_average():.2f}"
        )
        try:
            for name in only:
                await WORKLOADS[name](suite)
        finally:
            stop_postgres_cluster()
        suite.sample_load()
    results = {
        "mode": mode,
        "command": f"python -m bench run --{mode}"
        + ("" if len(only) == len(WORKLOADS) else f" --only {','.join(only)}")
        + ("" if plan.repeats == PLANS[mode].repeats else f" --repeats {plan.repeats}"),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cores": {"server": machine.server_core(), "generator": machine.generator_core()},
        "load_average": {"min": min(suite.loads), "max": max(suite.loads), "samples": suite.loads},
        "plan": plan.__dict__,
        **suite.results,
    }
    report.write(results, out)
    say(f"results in {out}/results.json, results.md and results.png")
    return all_correct(results)


def all_correct(node: Any) -> bool:
    """No run anywhere in the results lost, duplicated or misordered anything."""
    if isinstance(node, dict):
        return node.get("correct") is not False and all(all_correct(v) for v in node.values())
    if isinstance(node, list):
        return all(all_correct(v) for v in node)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(required=True)
    cmd = sub.add_parser("run", help="run the suite")
    modes = cmd.add_mutually_exclusive_group()
    for mode in PLANS:
        modes.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    cmd.add_argument("--only", default="A,B,C,D", help="comma-separated workloads (default: A,B,C,D)")
    cmd.add_argument("--repeats", type=int, help="runs per figure (default: 3, --smoke 1)")
    cmd.add_argument(
        "--day-setups", help="workload B's setups, e.g. sqlite:1,postgresql:2 (default: those two, --smoke sqlite:1)"
    )
    cmd.add_argument("--out", type=Path, default=Path("docs/bench"), help="where results.* go (default: docs/bench)")
    args = parser.parse_args()
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    runner: Callable[..., Any] = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    plan = PLANS[args.mode or "quick"]
    if args.repeats:
        plan = dataclasses.replace(plan, repeats=args.repeats)
    if args.day_setups:
        setups = tuple((db, int(n)) for db, n in (s.split(":") for s in args.day_setups.split(",")))
        plan = dataclasses.replace(plan, day_setups=setups)
    correct = runner(run(args.mode or "quick", plan, only, args.out))
    if not correct:
        say("some workload lost, duplicated or misordered messages: see results.json")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
