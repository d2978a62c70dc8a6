"""Build the chat model named in the settings."""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from graphs.offline import OfflineChatModel


def make_offline_model(token_delay_s: float = 0.0) -> BaseChatModel:
    return OfflineChatModel(token_delay_s=token_delay_s)
