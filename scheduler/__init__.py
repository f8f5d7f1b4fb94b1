"""Timed work: APScheduler wakes up; SQL rows are the truth.

Only this package imports apscheduler. It calls back into the server only through the callables
it is given, so it imports nothing of chatd's.
"""

from scheduler.runner import Scheduler

__all__ = ["Scheduler"]
