"""What a Redis server lacks for LangGraph's Redis checkpointer.

``langgraph-checkpoint-redis`` (RedisSaver, RedisStore) keeps checkpoints as
JSON documents (the JSON module) and finds them through search indexes (the
Query Engine, i.e. the search module, 2.6 or later as redisvl requires).
Redis 8 has both built in; Redis Stack 7.2 or later ships them as modules; a
plain Redis 7 (as Debian packages it) has neither, and the saver then fails
on its first call with an ``unknown command`` error far from the cause.

The probe only reads: INFO for the version, MODULE LIST for the modules and
their versions, and, where MODULE LIST is refused or the modules are built
in under other names, ``FT._LIST`` and a ``JSON.GET`` of a key that does not
exist, each of which fails with ``unknown command`` when its module is
absent.
"""

from __future__ import annotations

from typing import Any, Protocol

MIN_SERVER = (7, 2)
MIN_SEARCH = 20600  # redisvl's DEFAULT_REQUIRED_MODULES
SEARCH_MODULES = ("search", "searchlight")
JSON_MODULES = ("rejson", "redisjson")
_ABSENT_KEY = "chat-app:redis-probe:absent"


class Commands(Protocol):
    """The one method of a redis-py client (standalone or cluster) the probe uses."""

    def execute_command(self, *args: Any, **options: Any) -> Any: ...


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def server_version(client: Commands) -> str:
    """The server's ``redis_version`` from INFO ("" when INFO does not say)."""
    info = client.execute_command("INFO", "server")
    if isinstance(info, dict):
        return _text(info.get("redis_version", ""))
    for line in _text(info).splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return ""


def loaded_modules(client: Commands) -> dict[str, int] | None:
    """MODULE LIST as {lower-case name: version}; None when the command is refused."""
    try:
        rows = client.execute_command("MODULE", "LIST")
    except Exception:
        return None
    modules: dict[str, int] = {}
    for row in rows or []:
        if isinstance(row, dict):
            fields = {_text(k): v for k, v in row.items()}
        else:  # a flat [name, value, ...] list
            items = list(row)
            fields = {_text(k): v for k, v in zip(items[::2], items[1::2], strict=False)}
        name = _text(fields.get("name", "")).lower()
        try:
            modules[name] = int(_text(fields.get("ver", 0)))
        except ValueError:
            modules[name] = 0
    return modules


def _refusal(client: Commands, *command: str) -> str | None:
    """None when the server runs ``command``; else why not, in a few words."""
    try:
        client.execute_command(*command)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "unknown command" in reason.lower():
            return ""
        return f"{command[0]} refused: {reason[:120]}"
    return None


def _lacking(what: str, refusal: str | None) -> list[str]:
    if refusal is None:
        return []
    return [f"{what} ({refusal})" if refusal else what]


def missing_redis_capabilities(client: Commands) -> list[str]:
    """What the server lacks for the Redis checkpointer, one phrase each; [] when nothing.

    Raises what the client raises when the server cannot be reached at all.
    """
    missing: list[str] = []
    version = server_version(client)
    if not version or _version(version)[:2] < MIN_SERVER:
        shown = version or "unknown"
        missing.append(f"Redis {MIN_SERVER[0]}.{MIN_SERVER[1]} or later (this server is {shown})")

    modules = loaded_modules(client) or {}
    json_listed = any(name in modules for name in JSON_MODULES)
    if not json_listed:
        missing += _lacking(
            "the JSON module (RedisJSON)", _refusal(client, "JSON.GET", _ABSENT_KEY)
        )

    search_versions = [modules[name] for name in SEARCH_MODULES if name in modules]
    if search_versions:
        if max(search_versions) < MIN_SEARCH:
            found = max(search_versions)
            missing.append(
                "the Query Engine (search module) 2.6 or later"
                f" (this server has {found // 10000}.{found // 100 % 100}.{found % 100})"
            )
    else:
        missing += _lacking("the Query Engine (search module)", _refusal(client, "FT._LIST"))
    return missing


def describe_missing(missing: list[str]) -> str:
    """One line for a person: what is missing and what would do."""
    if not missing:
        return "This Redis server has what the Redis checkpointer needs."
    return (
        "This Redis server lacks what the Redis checkpointer needs: "
        + "; ".join(missing)
        + ". Redis 8 has both built in, as does Redis Stack 7.2 or later."
    )
