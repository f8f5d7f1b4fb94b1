"""docs/bots.md's verification snippet accepts what chatd signs and refuses anything else."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from chatd.services.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.support import ROOT

DOC = (ROOT / "docs" / "bots.md").read_text()


def _python_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    snippet = re.search(r"```python\n(import hashlib, hmac, time\n.*?)```", DOC, re.S)
    assert snippet is not None, "the Python verification snippet is missing from docs/bots.md"
    scope: dict[str, object] = {}
    exec(snippet.group(1), scope)
    verify = scope["verify"]
    assert callable(verify)
    return verify  # type: ignore[return-value]


def test_the_documented_python_verification_accepts_chatd_signatures() -> None:
    verify = _python_verify()
    body = b'{"delivery_id":1,"attempt":1,"event":{"type":"message.created","event_id":9,"data":{}}}'
    now = int(time.time())
    headers = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign("whsec_test", now, body)}
    assert verify("whsec_test", headers, body)
    assert not verify("whsec_other", headers, body)
    assert not verify("whsec_test", headers, body + b" ")
    stale = {TIMESTAMP_HEADER: str(now - 600), SIGNATURE_HEADER: sign("whsec_test", now - 600, body)}
    assert not verify("whsec_test", stale, body)


def test_every_bot_endpoint_is_in_the_protocol_reference() -> None:
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    for path in ("/api/bots", "/api/bots/{bot_id}/tokens", "/api/bots/{bot_id}/webhook", "/api/protocol"):
        assert f"{path}`" in protocol or f"{path} " in protocol or f"{path}/" in protocol, path
