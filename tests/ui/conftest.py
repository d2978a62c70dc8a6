"""Fixtures for UI tests: a real ChatService on a fresh data dir, and the app."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from chat_app.config import Settings, load_settings
from chat_app.service import ChatService
from chat_app.ui.app import ChatApp, make_app


def make_settings(data_dir: Path, **model: Any) -> Settings:
    return load_settings(
        None,
        env={},
        overrides={
            "storage": {"data_dir": str(data_dir)},
            "model": {"offline_token_delay_ms": 0, **model},
            "user": {"id": "tester"},
        },
        use_user_config=False,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def service(settings: Settings) -> Iterator[ChatService]:
    svc = ChatService(settings)
    yield svc
    svc.close()


@pytest.fixture
def app_factory(settings: Settings, service: ChatService) -> Callable[..., ChatApp]:
    def build(**kwargs: Any) -> ChatApp:
        kwargs.setdefault("poll_interval_s", 3600)
        # The agent and the profile load right after the first screen.
        kwargs.setdefault("warm_up_delay_s", 0)
        return make_app(settings, service, **kwargs)

    return build


def bulk_thread(service: ChatService, n_messages: int, title: str = "Long thread") -> str:
    """A thread with ``n_messages`` messages written in one checkpoint (fast set-up).

    Sending 500 turns one by one takes tens of seconds; the UI only needs the
    resulting state, so the messages are written as one update of the graph.
    """
    info = service.create_thread(title)
    msgs: list[Any] = []
    for i in range(n_messages // 2):
        msgs.append(
            HumanMessage(content=f"question {i}: how do I do thing {i}?", id=str(uuid.uuid4()))
        )
        body = f"Answer {i}. Here is some **bold** text and a list:\n\n- one\n- two\n"
        if i % 10 == 0:
            body += f"\n```python\nprint('hello {i}')\n```\n"
        msgs.append(AIMessage(content=body, id=str(uuid.uuid4())))
    config = {"configurable": {"thread_id": info.id}}
    service.graph.update_state(config, {"messages": msgs}, as_node="remember")
    service.index.set_count(info.id, len(msgs))
    return info.id


def screen_text(app: ChatApp) -> str:
    """Everything on screen as plain text (what a person would read)."""
    from textual.strip import Strip

    update = app.screen._compositor.render_full_update()
    return "\n".join(Strip.join(list(chops)).text for chops in update.strips)
