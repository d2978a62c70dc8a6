"""The service the UI and the CLI talk to: :class:`ChatService` and what it returns."""

from chat_app.service.facade import (
    MAX_MESSAGE_CHARS,
    AmbiguousThreadId,
    ChatService,
    DamagedCheckpoint,
    PendingRun,
    RecoveryReport,
    ServiceError,
    ThreadNotFound,
    _chat_messages,
    storage_errors,
)

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
