"""The machine-readable protocol: committed files match the schemas, are served, and the test
vectors round-trip through protocol/'s codecs and validate against the JSON Schemas."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import msgspec
import pytest

from protocol import spec
from protocol.codec import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL, codec_for
from protocol.frames import EVENT_TYPES, OPS, ServerFrame
from tests.support import ROOT, ChatdProcess

VECTORS: list[dict[str, Any]] = json.loads((ROOT / "protocol" / "spec" / "vectors.json").read_text())


@pytest.mark.parametrize("relative", sorted(spec.OUTPUTS))
def test_committed_documents_match_the_schemas(relative: str) -> None:
    committed = (ROOT / relative).read_text()
    assert committed == spec.render(spec.OUTPUTS[relative]()), f"{relative} is stale: run python -m protocol.spec"


def test_the_asyncapi_document_covers_every_op_and_event_and_its_refs_resolve() -> None:
    document = spec.asyncapi()
    assert document["asyncapi"].startswith("3.")
    titles = {m["title"] for m in document["components"]["messages"].values()}
    assert {f"request `{op}`" for op in OPS} <= titles
    assert {f"event `{t}`" for t in EVENT_TYPES} <= titles
    for ref in _refs(document):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert isinstance(node, dict), ref


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{v['direction']}:{v['name']}")
def test_vectors_round_trip_through_the_codecs(vector: dict[str, Any]) -> None:
    as_json, as_msgpack = vector["json"], bytes.fromhex(vector["msgpack_hex"])
    assert msgspec.json.decode(as_json) == msgspec.msgpack.decode(as_msgpack)
    if vector["direction"] == "client":
        from_json = codec_for(JSON_SUBPROTOCOL).decode(as_json)
        from_msgpack = codec_for(MSGPACK_SUBPROTOCOL).decode(as_msgpack)
        assert from_json == from_msgpack
        assert msgspec.json.encode(from_json).decode() == as_json
        assert msgspec.msgpack.encode(from_msgpack) == as_msgpack
    else:
        frame = msgspec.json.decode(as_json, type=ServerFrame)
        assert codec_for(JSON_SUBPROTOCOL).encode(frame) == as_json
        assert codec_for(MSGPACK_SUBPROTOCOL).encode(frame) == as_msgpack


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{v['direction']}:{v['name']}")
def test_vectors_validate_against_the_json_schemas(vector: dict[str, Any]) -> None:
    schemas = spec.json_schemas()
    root = "ClientFrame" if vector["direction"] == "client" else "ServerFrame"
    jsonschema.validate(json.loads(vector["json"]), {"$ref": f"#/$defs/{root}", "$defs": schemas["$defs"]})


def test_the_schemas_refuse_what_the_codec_refuses() -> None:
    schemas = spec.json_schemas()
    client = {"$ref": "#/$defs/ClientFrame", "$defs": schemas["$defs"]}
    for bad in ({"op": "send", "thread_id": 0, "body": "x", "client_msg_id": "a"}, {"op": "ping", "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, client)


async def test_the_server_publishes_the_documents(server: ChatdProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        served = await http.get("/api/protocol")
        assert served.status_code == 200
        assert served.text == (ROOT / "docs" / "protocol" / "asyncapi.json").read_text()
        schema = await http.get("/api/protocol/schema")
        assert schema.json() == json.loads((ROOT / "docs" / "protocol" / "chatd.v1.schema.json").read_text())
        assert (await http.get("/api/protocol/vectors")).json() == VECTORS


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
