"""Consume a model's stream so that a cancel takes effect at once.

A synchronous ``model.stream()`` checks for cancel only between chunks: while
the server says nothing, the reply cannot be stopped until the read timeout.
Here the stream is consumed as ``astream()`` on one long-lived event loop (a
daemon thread, so HTTP clients keep their connection pools), and the caller
waits on it while watching the cancel event; cancelling the task closes the
request, so no zombie request is left behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Sequence

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
POLL_S = 0.02


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="model-stream", daemon=True).start()
            _loop = loop
        return _loop


def stream_cancellable(
    model: BaseChatModel,
    prompt: Sequence[BaseMessage],
    cancel: threading.Event,
    on_chunk: Callable[[AIMessageChunk], None],
) -> bool:
    """Feed every chunk to ``on_chunk`` (in this thread); True if cancelled."""
    chunks: list[AIMessageChunk] = []
    ready = threading.Event()

    async def pump() -> None:
        async for chunk in model.astream(list(prompt)):
            chunks.append(chunk)
            ready.set()

    future = asyncio.run_coroutine_threadsafe(pump(), _background_loop())
    # Wake the waiter as soon as the stream ends; otherwise every reply
    # waits out one more POLL_S after its last chunk.
    future.add_done_callback(lambda _f: ready.set())
    delivered = 0
    try:
        while True:
            done = future.done()
            # Deliver in this thread: callers write to LangGraph's stream here.
            while delivered < len(chunks):
                on_chunk(chunks[delivered])
                delivered += 1
                if cancel.is_set():
                    return True
            if done:
                future.result()
                while delivered < len(chunks):
                    on_chunk(chunks[delivered])
                    delivered += 1
                return False
            if cancel.is_set():
                return True
            ready.wait(POLL_S)
            ready.clear()
    finally:
        if not future.done():
            future.cancel()
            try:
                future.result(timeout=1.0)
            except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
                pass
            except Exception:  # noqa: S110 - the reply was stopped; its error is moot
                pass
