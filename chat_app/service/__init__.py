"""The service the UI and the CLI talk to: :class:`ChatService` and what it returns."""

from chat_app.service.errors import (
    AmbiguousThreadId,
    DamagedCheckpoint,
    ServiceError,
    ThreadNotFound,
    storage_errors,
)
from chat_app.service.facade import ChatService
from chat_app.service.reading import _chat_messages
from chat_app.service.recovery import PendingRun, RecoveryReport
from chat_app.service.runs import MAX_MESSAGE_CHARS

__all__ = [
    "MAX_MESSAGE_CHARS",
    "AmbiguousThreadId",
    "ChatService",
    "DamagedCheckpoint",
    "PendingRun",
    "RecoveryReport",
    "ServiceError",
    "ThreadNotFound",
    "_chat_messages",
    "storage_errors",
]
