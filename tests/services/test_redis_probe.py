"""The capability probe says what a Redis server lacks for the Redis checkpointer.

On the system Redis (7.0, no modules) it names the version, JSON and the
Query Engine; on the Redis 8 test server, nothing; on a Redis 8 with JSON
only, the Query Engine alone. What it says is what LangGraph's saver then
does: where the probe finds nothing missing the saver stores and reads a
checkpoint, where it names the Query Engine the saver cannot even set up.
"""

from __future__ import annotations

import uuid

import pytest
import redis

from chat_app.storage.redis.probe import (
    describe_missing,
    missing_redis_capabilities,
    server_version,
)
from tests.redis8 import own_server, require_redis_checkpoint
from tests.services.conftest import REDIS_HOST, REDIS_PORT, require_redis


def test_the_system_redis_lacks_json_and_the_query_engine() -> None:
    require_redis()
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys_before = client.dbsize()
    version = server_version(client)
    line = describe_missing(missing_redis_capabilities(client))

    assert "JSON module" in line and "Query Engine" in line, line
    if tuple(int(p) for p in version.split(".")[:2]) < (7, 2):
        assert f"Redis 7.2 or later (this server is {version})" in line, line
    assert "\n" not in line
    # The probe wrote nothing (other tests share this server).
    assert client.dbsize() == keys_before


@pytest.mark.parametrize("decode_responses", [False, True])
def test_the_redis8_test_server_lacks_nothing(redis8_url: str, decode_responses: bool) -> None:
    require_redis_checkpoint()
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.redis import RedisSaver

    client = redis.Redis.from_url(redis8_url, decode_responses=decode_responses)
    assert server_version(client).startswith("8.")
    assert missing_redis_capabilities(client) == []
    # ... and LangGraph's saver works there.
    saver = RedisSaver(redis_client=client)
    saver.setup()
    thread = str(uuid.uuid4())
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    saver.put(config, checkpoint, {"source": "input", "step": -1}, {})
    got = saver.get_tuple({"configurable": {"thread_id": thread}})
    assert got is not None and got.checkpoint["id"] == checkpoint["id"]
    saver.delete_thread(thread)


def test_a_redis8_without_search_lacks_the_query_engine_alone() -> None:
    require_redis_checkpoint()
    from langgraph.checkpoint.redis import RedisSaver

    with own_server(modules="json") as url:
        client = redis.Redis.from_url(url)
        missing = missing_redis_capabilities(client)
        assert len(missing) == 1 and "Query Engine" in missing[0], missing
        assert "JSON module" not in describe_missing(missing)
        # What LangGraph's saver makes of such a server: it cannot set up.
        with pytest.raises(Exception, match=r"(?i)unknown command"):
            RedisSaver(redis_client=client).setup()
        client.close()
