"""The app's own records on Redis: threads, search text, timeline notes, token
usage, partial replies and chosen heads, beside LangGraph's keys.

Keys (all under ``chat-app:``):

- ``thread:<id>``: a hash (user_id, title, title_locked, created_at,
  updated_at, message_count, run_state);
- ``user:<user>:threads``: a sorted set of the user's thread ids by updated_at;
- ``running``: a set of the ids of threads whose reply is running;
- ``msgs:<id>``, ``notes:<id>``, ``usage:<id>``, ``cps:<id>``: hashes of the
  thread's searchable message texts, timeline notes, token usage and
  checkpoints (id -> parent, step, source; written by the saver,
  :class:`chat_app.storage.redis.backend.AppRedisSaver`);
- ``head:<id>``, ``partial:<id>``: strings.

Search is a scan of the user's threads, newest first: a title or a message
text containing the query, ignoring case (as SQLite's LIKE does for ASCII).
No Query Engine index is kept for it: the scan reads each thread's texts in
one round trip per 200 threads, and stops once ``limit`` threads are found.

Writes that touch several keys run as one Lua script or one MULTI/EXEC
pipeline, so another instance never sees half of one. Inside
``RedisBackend.one_transaction`` an index queues its writes in a pipeline that
runs when the block ends (``flush``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from chat_app.service.events import CheckpointInfo, ThreadInfo
from chat_app.storage.app_index import uuid6_time

P = "chat-app:"
THREAD_KINDS = ("thread", "msgs", "notes", "usage", "cps", "head", "partial")
SEARCH_CHUNK = 200
# RedisSaver's pointer to a thread's newest checkpoint (the key of its document).
LATEST = "checkpoint_latest"

# KEYS[1] thread hash; ARGV[1] prefix, ARGV[2] thread id, ARGV[3] updated_at
# ("" to keep it), then field/value pairs. Nothing happens to a missing thread.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
  local user = redis.call('HGET', KEYS[1], 'user_id')
  redis.call('ZADD', ARGV[1] .. 'user:' .. user .. ':threads', ARGV[3], ARGV[2])
end
local state = redis.call('HGET', KEYS[1], 'run_state')
if state == 'running' then
  redis.call('SADD', ARGV[1] .. 'running', ARGV[2])
else
  redis.call('SREM', ARGV[1] .. 'running', ARGV[2])
end
return 1
"""

# KEYS[1] thread hash; ARGV[1] title. Only an untouched, empty title changes.
_AUTO_TITLE = """
if redis.call('HGET', KEYS[1], 'title_locked') == '0'
   and redis.call('HGET', KEYS[1], 'title') == '' then
  redis.call('HSET', KEYS[1], 'title', ARGV[1])
  return 1
end
return 0
"""

# KEYS[1] thread hash; ARGV[1] prefix, ARGV[2] thread id, then the hash's
# field/value pairs. Refused (0) if the thread exists.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
local user = redis.call('HGET', KEYS[1], 'user_id')
local updated = redis.call('HGET', KEYS[1], 'updated_at')
redis.call('ZADD', ARGV[1] .. 'user:' .. user .. ':threads', updated, ARGV[2])
return 1
"""

# KEYS[1] thread hash; ARGV[1] prefix, ARGV[2] thread id.
_DELETE = """
local user = redis.call('HGET', KEYS[1], 'user_id')
if user then redis.call('ZREM', ARGV[1] .. 'user:' .. user .. ':threads', ARGV[2]) end
redis.call('SREM', ARGV[1] .. 'running', ARGV[2])
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[1])
return 1
"""


class ThreadExists(Exception):
    """A thread with that id is already indexed."""


def key(kind: str, thread_id: str) -> str:
    return f"{P}{kind}:{thread_id}"


def user_key(user_id: str) -> str:
    return f"{P}user:{user_id}:threads"


def _num(value: float) -> str:
    return repr(float(value))


class RedisThreadIndex:
    """The app's records in Redis (a client with ``decode_responses=True``)."""

    def __init__(
        self,
        client: Any,
        *,
        joined: bool = False,
        rebuild: Callable[[str], dict[str, str]] | None = None,
    ) -> None:
        self.client = client
        self.joined = joined
        # Rewrites a thread's ``cps:`` records from the saver (see _cps).
        self.rebuild = rebuild
        self._pipe: Any = client.pipeline(transaction=True) if joined else None
        self._update = client.register_script(_UPDATE)
        self._auto_title = client.register_script(_AUTO_TITLE)
        self._create = client.register_script(_CREATE)
        self._delete = client.register_script(_DELETE)

    # -- writing ------------------------------------------------------------------

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        if self._pipe is not None:
            script(keys=keys, args=args, client=self._pipe)
            return 1
        return script(keys=keys, args=args)

    def _write(self) -> Any:
        """A pipeline for several writes: the joined one, or a new MULTI/EXEC."""
        return self._pipe if self._pipe is not None else self.client.pipeline(transaction=True)

    def _done(self, pipe: Any) -> None:
        if pipe is not self._pipe:
            pipe.execute()

    def flush(self) -> None:
        """Run the writes queued inside ``one_transaction``, all at once."""
        if self._pipe is not None:
            self._pipe.execute()

    def _set(self, thread_id: str, touch: bool, **fields: Any) -> None:
        args: list[Any] = [P, thread_id, _num(time.time()) if touch else ""]
        for name, value in fields.items():
            args += [name, value]
        self._run(self._update, [key("thread", thread_id)], args)

    # -- threads ------------------------------------------------------------------

    @staticmethod
    def _info(thread_id: str, h: dict[str, str]) -> ThreadInfo:
        return ThreadInfo(
            id=thread_id,
            title=h.get("title", ""),
            created_at=float(h.get("created_at", 0)),
            updated_at=float(h.get("updated_at", 0)),
            message_count=int(h.get("message_count", 0)),
            interrupted=h.get("run_state") == "running",
        )

    def create(self, user_id: str, title: str = "", thread_id: str | None = None) -> ThreadInfo:
        now = time.time()
        tid = thread_id or str(uuid.uuid4())
        fields = {
            "user_id": user_id,
            "title": title,
            "title_locked": "1" if title else "0",
            "created_at": _num(now),
            "updated_at": _num(now),
            "message_count": "0",
            "run_state": "idle",
        }
        args: list[Any] = [P, tid]
        for name, value in fields.items():
            args += [name, value]
        if not self._run(self._create, [key("thread", tid)], args):
            raise ThreadExists(tid)
        return ThreadInfo(tid, title, now, now, 0)

    def get(self, user_id: str, thread_id: str) -> ThreadInfo | None:
        h = self.client.hgetall(key("thread", thread_id))
        if not h or h.get("user_id") != user_id:
            return None
        return self._info(thread_id, h)

    def owner(self, thread_id: str) -> str | None:
        user = self.client.hget(key("thread", thread_id), "user_id")
        return str(user) if user is not None else None

    def ids_with_prefix(self, user_id: str, prefix: str, limit: int) -> list[str]:
        ids = self.client.zrange(user_key(user_id), 0, -1)
        return sorted(t for t in ids if t.startswith(prefix))[:limit]

    def _ordered(self, user_id: str) -> list[str]:
        scored = self.client.zrange(user_key(user_id), 0, -1, withscores=True)
        return [t for t, _ in sorted(scored, key=lambda ts: (-ts[1], ts[0]))]

    def _infos(self, ids: list[str]) -> list[ThreadInfo]:
        pipe = self.client.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(key("thread", tid))
        return [self._info(t, h) for t, h in zip(ids, pipe.execute(), strict=True) if h]

    def _matching(self, ids: list[str], query: str) -> list[str]:
        needle = query.lower()
        pipe = self.client.pipeline(transaction=False)
        for tid in ids:
            pipe.hget(key("thread", tid), "title")
            pipe.hvals(key("msgs", tid))
        got = pipe.execute()
        found = []
        for i, tid in enumerate(ids):
            title, texts = got[2 * i] or "", got[2 * i + 1]
            if needle in title.lower() or any(needle in json.loads(t)[1].lower() for t in texts):
                found.append(tid)
        return found

    def list_threads(
        self, user_id: str, limit: int | None = None, query: str = ""
    ) -> list[ThreadInfo]:
        ids = self._ordered(user_id)
        if query:
            found: list[str] = []
            for start in range(0, len(ids), SEARCH_CHUNK):
                found += self._matching(ids[start : start + SEARCH_CHUNK], query)
                if limit is not None and len(found) >= limit:
                    break
            ids = found
        if limit is not None:
            ids = ids[:limit]
        return self._infos(ids)

    def rename(self, thread_id: str, title: str) -> None:
        self._set(thread_id, True, title=title, title_locked="1")

    def set_auto_title(self, thread_id: str, title: str) -> None:
        self._run(self._auto_title, [key("thread", thread_id)], [title])

    def set_run_state(self, thread_id: str, state: str) -> None:
        self._set(thread_id, True, run_state=state)

    def is_running(self, thread_id: str) -> bool:
        return bool(self.client.hget(key("thread", thread_id), "run_state") == "running")

    def running(self, user_id: str | None = None) -> list[str]:
        ids = sorted(self.client.smembers(P + "running"))
        if user_id is None:
            return ids
        return [t for t in ids if self.owner(t) == user_id]

    def record_turn(
        self,
        thread_id: str,
        message_count: int,
        messages: Iterable[tuple[str, str, str]],
        notes: Iterable[tuple[str, str, str, bool]],
        usage: tuple[str, int, int] | None = None,
    ) -> None:
        """After a turn: counts, searchable text, timeline notes, the reply's
        token usage (checkpoint, in, out), run finished; all at once."""
        msg_map = {mid: json.dumps([role, text]) for mid, role, text in messages}
        note_map = {cid: json.dumps([k, s, bool(p)]) for cid, k, s, p in notes}
        pipe = self._write()
        args = [P, thread_id, _num(time.time()), "message_count", message_count]
        args += ["run_state", "idle"]
        self._update(keys=[key("thread", thread_id)], args=args, client=pipe)
        if msg_map:
            pipe.hset(key("msgs", thread_id), mapping=msg_map)
        if note_map:
            pipe.hset(key("notes", thread_id), mapping=note_map)
        if usage is not None:
            cid, tokens_in, tokens_out = usage
            pipe.hset(key("usage", thread_id), cid, json.dumps([tokens_in, tokens_out]))
        pipe.delete(key("partial", thread_id))
        self._done(pipe)

    def add_note(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> None:
        pipe = self._write()
        pipe.hset(key("notes", thread_id), checkpoint_id, json.dumps([kind, summary, False]))
        self._done(pipe)

    def note(self, thread_id: str, checkpoint_id: str) -> tuple[str, str] | None:
        raw = self.client.hget(key("notes", thread_id), checkpoint_id)
        if raw is None:
            return None
        kind, summary, _ = json.loads(raw)
        return str(kind), str(summary)

    def stamp(self, user_id: str) -> tuple[int, float]:
        pipe = self.client.pipeline(transaction=False)
        pipe.zcard(user_key(user_id))
        pipe.zrange(user_key(user_id), -1, -1, withscores=True)
        count, top = pipe.execute()
        return int(count), float(top[0][1]) if top else 0.0

    def set_count(self, thread_id: str, message_count: int) -> None:
        self._set(thread_id, True, message_count=message_count)

    def set_times(self, thread_id: str, created_at: float, updated_at: float) -> None:
        owner = self.owner(thread_id)
        if owner is None:
            return
        pipe = self._write()
        pipe.hset(
            key("thread", thread_id),
            mapping={"created_at": _num(created_at), "updated_at": _num(updated_at)},
        )
        pipe.zadd(user_key(owner), {thread_id: updated_at})
        self._done(pipe)

    def unindexed(self) -> list[tuple[str, str, str]]:
        """Threads whose checkpoints this app's saver recorded (``cps:``) with no
        thread record: a write cut short between the checkpoint and the index."""
        out = []
        for k in sorted(self.client.scan_iter(match=P + "cps:*", count=1000)):
            tid = k[len(P + "cps:") :]
            if self.client.exists(key("thread", tid)):
                continue
            ids = sorted(self.client.hkeys(k))
            if ids:
                out.append((tid, ids[0], ids[-1]))
        return out

    def save_partial(self, thread_id: str, text: str) -> None:
        self.client.set(key("partial", thread_id), text)

    def partial(self, thread_id: str) -> str:
        return str(self.client.get(key("partial", thread_id)) or "")

    # -- checkpoints ----------------------------------------------------------------

    def _cps(self, thread_id: str) -> dict[str, str]:
        """The thread's ``cps:`` records, rebuilt from the saver when its newest
        checkpoint is missing from them (the process died between the two
        writes, or another program wrote the checkpoints)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(key("cps", thread_id))
        pipe.get(f"{LATEST}:{thread_id}:__empty__")
        cps, latest = pipe.execute()
        newest = str(latest).rsplit(":", 1)[-1] if latest else None
        if newest is not None and newest not in cps and self.rebuild is not None:
            cps = self.rebuild(thread_id)
        return dict(cps)

    def checkpoints(self, thread_id: str, newest: int | None = None) -> list[CheckpointInfo]:
        """Checkpoints of the thread (all, or the ``newest`` few), oldest first,
        from the ``cps:`` records, the notes and the usage; no state is read."""
        pipe = self.client.pipeline(transaction=False)
        for kind in ("notes", "usage"):
            pipe.hgetall(key(kind, thread_id))
        notes, usage = pipe.execute()
        cps = self._cps(thread_id)
        ids = sorted(cps)
        if newest is not None:
            ids = ids[-newest:] if newest > 0 else []
        out = []
        for cid in ids:
            parent, step, source = json.loads(cps[cid])
            kind, summary, profile = json.loads(notes[cid]) if cid in notes else ("", "", False)
            tokens = json.loads(usage[cid]) if cid in usage else [None, None]
            out.append(
                CheckpointInfo(
                    id=cid,
                    parent_id=parent,
                    step=step,
                    source=source,
                    created_at=uuid6_time(cid),
                    kind=kind,
                    summary=summary,
                    profile_updated=bool(profile),
                    input_tokens=tokens[0],
                    output_tokens=tokens[1],
                )
            )
        return out

    def newest_checkpoint(self, thread_id: str) -> str | None:
        ids = self._cps(thread_id)
        return max(ids) if ids else None

    def chosen_head(self, thread_id: str) -> str | None:
        head = self.client.get(key("head", thread_id))
        return str(head) if head else None

    def choose_head(self, thread_id: str, checkpoint_id: str | None) -> None:
        if checkpoint_id is None:
            self.client.delete(key("head", thread_id))
        else:
            self.client.set(key("head", thread_id), checkpoint_id)

    def delete(self, thread_id: str) -> None:
        keys = [key(kind, thread_id) for kind in THREAD_KINDS if kind != "cps"]
        self._run(self._delete, keys, [P, thread_id])
