"""The model the service talks to: which one the settings name, built when first needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chat_app.config import Settings

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.
    from langchain_core.language_models.chat_models import BaseChatModel

    from graphs.nodes import Extractor


ModelFactory = Callable[[Settings], "tuple[BaseChatModel, Extractor | None]"]


def check_model_settings(settings: Settings) -> None:
    """Refuse, without loading the model's client, what its construction would refuse."""
    name = settings.model.name
    if name.startswith("openai:"):
        from graphs.endpoints import api_key_for

        api_key_for(settings.api_key, settings.model.base_url)


def default_model_factory(settings: Settings) -> tuple[BaseChatModel, Extractor | None]:
    """The model named in the settings, and its profile extractor."""
    name = settings.model.name
    if name == "offline":
        from graphs.models import make_offline_model
        from graphs.offline import Chaos

        c = settings.chaos
        chaos = None
        if c.fail_next or c.drop_stream_after or c.kill_after_tokens:
            chaos = Chaos(c.fail_next, c.drop_stream_after, c.kill_after_tokens)
        delay = settings.model.offline_token_delay_ms / 1000.0
        return make_offline_model(delay, chaos), None
    from graphs.providers import make_openai_model, structured_extractor

    model = make_openai_model(
        name.split(":", 1)[1],
        api_key=settings.api_key,
        base_url=settings.model.base_url,
        connect_timeout_s=settings.model.connect_timeout_s,
        read_timeout_s=settings.model.read_timeout_s,
    )
    return model, structured_extractor(model)
