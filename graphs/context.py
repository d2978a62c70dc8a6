"""Run-scoped context passed to every node (not checkpointed)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class ChatContext:
    user_id: str = "user"
    # Set by the service when the person stops a reply.
    cancel: threading.Event = field(default_factory=threading.Event)
