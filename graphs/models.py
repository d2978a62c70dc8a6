"""Build the offline model, with optional injected failures for demos."""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from graphs.offline import Chaos, OfflineChatModel


def make_offline_model(token_delay_s: float = 0.0, chaos: Chaos | None = None) -> BaseChatModel:
    return OfflineChatModel(token_delay_s=token_delay_s, chaos=chaos)
