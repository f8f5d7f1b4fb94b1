"""docs/protocol.md documents every frame: each op, event type, error code and close code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol.errors import CloseCode, ErrorCode
from protocol.frames import EVENT_TYPES, OPS

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
HEADINGS = set(re.findall(r"^### (\S+)$", DOC, re.M))


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_has_a_section_with_an_example(op: str) -> None:
    assert op in HEADINGS
    assert f'{{"op": "{op}"' in DOC


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_a_section_with_an_example(event_type: str) -> None:
    assert event_type in HEADINGS
    assert f'"type": "{event_type}"' in DOC


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_documented(code: ErrorCode) -> None:
    assert f"| `{code.value}` |" in DOC


@pytest.mark.parametrize("code", list(CloseCode))
def test_every_close_code_is_documented(code: CloseCode) -> None:
    assert f"| {code.value} |" in DOC
