"""Errors a turn can end with: a model call's, classified once for the whole
app, and the profile store's.

The service retries only what :func:`classify` marks transient, in exactly one
retry layer (the OpenAI client's own retries are turned off). A failing
profile store is a storage failure, never a model one: it is raised as
:class:`ProfileStoreError` and never goes through :func:`classify`.
"""

from __future__ import annotations


class ModelCallError(Exception):
    """A model call failed; ``user_message`` is one line a person can act on."""

    transient: bool = False

    def __init__(
        self,
        user_message: str,
        *,
        transient: bool | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        if transient is not None:
            self.transient = transient
        self.retry_after = retry_after
        self.status = status


class TransientModelError(ModelCallError):
    """Worth another attempt: rate limits, 5xx, timeouts, dropped connections."""

    transient = True


class StreamInterrupted(TransientModelError):
    """The reply stream ended before the model said it was finished."""

    def __init__(
        self, user_message: str = "the reply stream ended early", partial: str = ""
    ) -> None:
        super().__init__(user_message)
        self.partial = partial


class ProfileStoreError(Exception):
    """The profile store failed; the message is one line naming what failed.

    The store's own exception is the ``__cause__`` (the service describes a
    database error from it, as it does for the checkpointer's)."""


class EmptyReply(TransientModelError):
    """The model finished without a word: worth another attempt, never stored."""

    def __init__(self, user_message: str = "the model sent an empty reply") -> None:
        super().__init__(user_message)


class MalformedReply(TransientModelError):
    """The server sent a reply (or a stream chunk) that is not valid JSON."""

    def __init__(self, user_message: str = "the model server sent a malformed reply") -> None:
        super().__init__(user_message)


def classify(exc: BaseException) -> ModelCallError:
    """Map any exception from a model call to a ModelCallError."""
    if isinstance(exc, ModelCallError):
        return exc
    from graphs.providers import classify_provider_error

    return classify_provider_error(exc)
