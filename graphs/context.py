"""Run-scoped context passed to every node (not checkpointed)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class ChatContext:
    user_id: str = "user"
    # Set by the service when the person stops a reply.
    cancel: threading.Event = field(default_factory=threading.Event)
    # False while the service's retry layer will make another attempt after
    # a transient failure: a node then raises it. On the last attempt (and
    # for callers without a retry layer) extraction and summary failures are
    # recorded or worked around instead, so the turn still completes.
    final_attempt: bool = True
