"""The type of a result row whose columns the verbs read by name."""

from typing import Any

from sqlalchemy import Row

AnyRow = Row[*tuple[Any, ...]]
