"""This process's Prometheus metrics, served at ``/metrics``.

Module-level, in prometheus_client's default registry: any part of chatd counts without wiring,
and each chatd process is its own scrape target.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# Milliseconds matter here: a fan-out or a commit is a fraction of a frame's trip.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

CONNECTIONS = Gauge("chatd_connections", "Open WebSocket sessions on this process")
EVENTS_IN = Counter(
    "chatd_events_in_total", "Events this process's hub received, its own and other processes'", ["type"]
)
EVENTS_OUT = Counter("chatd_events_out_total", "Event frames queued to this process's sessions", ["type"])
FANOUT_SECONDS = Histogram(
    "chatd_fanout_seconds", "Time to queue one event to every session allowed to see it", buckets=_LATENCY_BUCKETS
)
COMMIT_SECONDS = Histogram("chatd_commit_seconds", "Time of a write transaction's COMMIT", buckets=_LATENCY_BUCKETS)
BUS_RECONNECTS = Counter("chatd_bus_reconnects_total", "Redis subscriptions made again after being lost")
# Set by the scheduler each time it starts a due item (a scheduled send).
SCHEDULER_LAG = Gauge(
    "chatd_scheduler_lag_seconds", "How late the most recently started due work was: from its due time to its start"
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """Every metric in Prometheus' text format."""
    return generate_latest()
