"""Results as JSON, a Markdown table (pasted into docs/performance.md) and a chart (matplotlib)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(table(results))
    chart(results, out / "results.png")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def table(results: dict[str, Any]) -> str:
    load = results["load_average"]
    lines = [
        f"`{results['command']}` - {results['started']} to {results['finished']}, Python {results['python']}, "
        f"server on core {results['cores']['server']}, generator on core {results['cores']['generator']}, "
        f"load average {load['min']:.2f}-{load['max']:.2f}. Medians of {results['plan']['repeats']} runs.",
        "",
    ]
    if "A" in results:
        lines += [
            "| A: room fan-out | chatd | bare websockets | ratio | server CPU chatd / websockets "
            "| server CPU per delivery chatd / websockets (ratio) "
            "| generator CPU (max) | waiting for a core: generator (max) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key, figures in results["A"].items():
            if not key.startswith("saturation_"):
                continue
            chatd, ref = figures["chatd"], figures["websockets"]
            generator = max(r["generator_cpu"] for f in figures.values() for r in f["runs"])
            starved = max(r.get("generator_starved", 0.0) for f in figures.values() for r in f["runs"])
            lines.append(
                f"| N = {int(key.split('_')[1]):,}, deliveries/s at saturation | {chatd['deliveries_per_s']:,.0f} "
                f"| {ref['deliveries_per_s']:,.0f} | {_ratio(chatd['deliveries_per_s'], ref['deliveries_per_s'])} "
                f"| {chatd['server_cpu']:.0%} / {ref['server_cpu']:.0%} | {_per_delivery(chatd, ref)} "
                f"| {generator:.0%} | {starved:.0%} |"
            )
        if "latency" in results["A"]:
            chatd, ref = results["A"]["latency"]["chatd"], results["A"]["latency"]["websockets"]
            generator = max(r["generator_cpu"] for f in (chatd, ref) for r in f["runs"])
            starved = max(r.get("generator_starved", 0.0) for f in (chatd, ref) for r in f["runs"])
            lines.append(
                f"| N = {results['plan']['latency_size']:,} at {chatd['deliveries_per_s']:,.0f} deliveries/s, "
                f"p50 / p99 | {chatd['p50_ms']:.1f} / {chatd['p99_ms']:.1f} ms | {ref['p50_ms']:.1f} / "
                f"{ref['p99_ms']:.1f} ms | {_ratio(chatd['p99_ms'], ref['p99_ms'])} (p99) "
                f"| {chatd['server_cpu']:.0%} / {ref['server_cpu']:.0%} | | {generator:.0%} | {starved:.0%} |"
            )
        lines.append("")
    if "B" in results:
        lines += [
            f"| B: a firm's day, {results['plan']['day_users']:,} users | sustained persisted msgs/s (p99 < 50 ms) "
            "| p99 there | most persisted msgs/s at any rate | server CPU per persisted message "
            "| server CPU there | generator CPU there |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key, figures in results["B"].items():
            database, processes = key.split("_")
            p99 = figures.get("p99_ms")
            lines.append(
                f"| {database}, {processes} process{'es' if processes != '1' else ''} "
                f"| {figures['sustained_per_s']:,.0f} | {'-' if p99 is None else f'{p99:.1f} ms'} "
                f"| {figures['max_persisted_per_s']:,.0f} | {cpu_per_message(figures):.1f} ms "
                f"| {_percent(figures.get('server_cpu'))} "
                f"| {_percent(figures.get('generator_cpu'))} |"
            )
        lines.append("")
    if "C" in results:
        chatd, ref = results["C"]["chatd"], results["C"]["websockets"]
        lines += [
            f"| C: {chatd['connections']:,} idle connections | chatd | bare websockets | ratio |",
            "| --- | --- | --- | --- |",
            f"| KiB per connection (RSS delta) | {chatd['kib_per_connection']:.1f} | {ref['kib_per_connection']:.1f} "
            f"| {_ratio(chatd['kib_per_connection'], ref['kib_per_connection'])} |",
            "",
        ]
    if "D" in results:
        storm = results["D"]["chatd"]
        lines += [
            f"| D: {storm['clients']:,} clients resume after {storm['missed']} missed messages | chatd |",
            "| --- | --- |",
            f"| time until all are live | {storm['all_live_s']:.2f} s |",
            f"| server / generator CPU meanwhile | {storm['server_cpu']:.0%} / {storm['generator_cpu']:.0%} |",
            f"| connections dropped before their resume was answered | {storm.get('dropped', 0):,.0f} |",
            f"| every message once, in order, on every connection | {'yes' if storm['correct'] else 'NO'} |",
            "",
        ]
    return "\n".join(lines)


def cpu_per_delivery(figures: dict[str, Any]) -> float:
    """Microseconds of server CPU per delivery, the median over the runs: unlike deliveries/s, it
    holds when other processes take the server's core for part of the time."""
    runs = sorted(r["server_cpu"] / r["deliveries_per_s"] * 1e6 for r in figures["runs"] if r["deliveries_per_s"])
    return runs[len(runs) // 2] if runs else 0.0


def cpu_per_message(figures: dict[str, Any]) -> float:
    """Milliseconds of server CPU (every process) per persisted message at each run's busiest step,
    the median over the runs."""
    costs = []
    for run in figures["runs"]:
        busiest = max(run["steps"], key=lambda step: step["persisted_per_s"])
        if busiest["persisted_per_s"]:
            costs.append(busiest["server_cpu"] / busiest["persisted_per_s"] * 1000)
    costs.sort()
    return costs[len(costs) // 2] if costs else 0.0


def _per_delivery(chatd: dict[str, Any], ref: dict[str, Any]) -> str:
    mine, bare = cpu_per_delivery(chatd), cpu_per_delivery(ref)
    return f"{mine:.1f} / {bare:.1f} µs ({_ratio(bare, mine)})"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("A", "B", "C") if p in results]
    figure, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 4), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=False):
        if panel == "A":
            sizes = [k for k in results["A"] if k.startswith("saturation_")]
            xs = range(len(sizes))
            for offset, name in ((-0.2, "chatd"), (0.2, "websockets")):
                values = [results["A"][k][name]["deliveries_per_s"] for k in sizes]
                axis.bar([x + offset for x in xs], values, width=0.4, label=name)
            axis.set_xticks(list(xs), [f"N={int(k.split('_')[1]):,}" for k in sizes])
            axis.set_title("A: deliveries/s at saturation")
            axis.legend()
        elif panel == "B":
            keys = list(results["B"])
            axis.bar(range(len(keys)), [results["B"][k]["sustained_per_s"] for k in keys])
            axis.set_xticks(range(len(keys)), [k.replace("_", "\n") + " proc." for k in keys])
            axis.set_title("B: persisted msgs/s with p99 < 50 ms")
        else:
            names = ["chatd", "websockets"]
            axis.bar(names, [results["C"][n]["kib_per_connection"] for n in names])
            axis.set_title("C: KiB per idle connection")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
