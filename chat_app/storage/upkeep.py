"""Storage upkeep: retention (prune), VACUUM, sizes, on either backend.

What prune may delete: only checkpoints of *abandoned* branches, i.e. not on
the current branch (the parent chain of the thread's newest checkpoint), and
only whole subtrees. A checkpoint stores the message list as a delta (plus a
snapshot now and then), so rebuilding any kept checkpoint needs every one of
its ancestors: the kept set is always closed under "parent of". The rules,
from ``[retention]``:

* an abandoned branch (a leaf other than the head, with the checkpoints that
  only it uses) whose newest checkpoint is older than
  ``drop_branches_older_than_days`` is dropped;
* of the remaining abandoned branches, the newest are kept whole while their
  checkpoints add up to at most ``keep_old_branch_checkpoints`` per thread; the
  older ones are dropped.

With a checkpoint go its pending writes and its timeline note. The current
branch is never touched, so ``load_messages`` gives exactly the same messages
before and after. Deleting rows does not shrink the file: :func:`vacuum` does.

The plan is the same on both backends; reading the graph, sizing and deleting
go through an :class:`Upkeep` (``chat_app.storage.sqlite.maintenance.SqliteUpkeep``,
``chat_app.storage.postgres.maintenance.PgUpkeep`` on PostgreSQL, which also deletes
the blobs only the dropped checkpoints use, and needs no VACUUM).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from chat_app.config import RetentionSettings
from chat_app.storage.app_index import uuid6_time

if TYPE_CHECKING:
    from chat_app.storage.backend import Backend


@dataclass
class ThreadPrune:
    thread_id: str
    branches: int = 0
    checkpoints: int = 0
    bytes: int = 0
    ids: list[str] = field(default_factory=list, repr=False)


@dataclass
class PruneReport:
    threads: list[ThreadPrune] = field(default_factory=list)
    skipped_busy: list[str] = field(default_factory=list)
    dry_run: bool = True
    file_bytes_before: int = 0
    file_bytes_after: int = 0

    @property
    def checkpoints(self) -> int:
        return sum(t.checkpoints for t in self.threads)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.threads)


@dataclass(frozen=True)
class ThreadSize:
    thread_id: str
    checkpoints: int
    bytes: int


def _ancestors(start: str, parent: dict[str, str | None]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    cur: str | None = start
    while cur is not None and cur in parent and cur not in seen:
        seen.add(cur)
        out.append(cur)
        cur = parent[cur]
    return out


def plan_thread(
    up: Upkeep,
    thread_id: str,
    policy: RetentionSettings,
    now: float | None = None,
    shown_head: str | None = None,
) -> ThreadPrune:
    """Which checkpoints of ``thread_id`` the policy drops (nothing is changed).

    ``shown_head``: the end of the branch the person switched to (the index's
    chosen head); it is current too, and kept like the newest one.
    """
    now = time.time() if now is None else now
    parent = up.edges(thread_id)
    plan = ThreadPrune(thread_id)
    if not parent:
        return plan
    head = max(parent)
    keep: set[str] = set(_ancestors(head, parent))
    if shown_head is not None:
        keep.update(_ancestors(shown_head, parent))
    has_child = {p for p in parent.values() if p is not None}
    leaves = sorted((c for c in parent if c not in has_child and c != head), reverse=True)
    cutoff = now - policy.drop_branches_older_than_days * 86400.0
    budget = policy.keep_old_branch_checkpoints
    for leaf in leaves:  # newest abandoned branch first
        own = [c for c in _ancestors(leaf, parent) if c not in keep]
        own_set = set(own)
        # The branch's exclusive part ends where it joins a kept checkpoint.
        if uuid6_time(leaf) >= cutoff and len(own) <= budget:
            keep |= own_set
            budget -= len(own)
    drop = [c for c in parent if c not in keep]
    if not drop:
        return plan
    plan.ids = sorted(drop)
    plan.checkpoints = len(drop)
    plan.branches = sum(1 for leaf in leaves if leaf not in keep)
    plan.bytes = up.bytes_of(thread_id, plan.ids)
    return plan


class Upkeep(Protocol):
    """What prune and doctor need from a backend's storage."""

    # True when compact() gives space back (VACUUM); PostgreSQL's autovacuum
    # reuses freed space by itself.
    compacts: bool

    def edges(self, thread_id: str) -> dict[str, str | None]: ...

    def bytes_of(self, thread_id: str, ids: list[str]) -> int: ...

    def delete(self, thread_id: str, ids: list[str]) -> None: ...

    def sizes(self) -> list[ThreadSize]: ...

    def total_bytes(self) -> int: ...

    def compact(self) -> None: ...


def upkeep_for(backend: Backend) -> Upkeep:
    """The :class:`Upkeep` of an open backend."""
    return backend.upkeep()


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
