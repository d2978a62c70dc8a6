"""The offline model: a deterministic local chat model that streams tokens."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from graphs.profile import PROFILE_HEADER


def _profile(messages: list[BaseMessage]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in messages:
        if isinstance(m, SystemMessage) and PROFILE_HEADER in str(m.content):
            block = str(m.content).split(PROFILE_HEADER, 1)[1]
            for line in block.splitlines():
                mm = re.match(r"^- ([\w:-]+): (.*)$", line)
                if mm:
                    out[mm.group(1)] = mm.group(2)
    return out


class OfflineChatModel(BaseChatModel):
    """Answers from the conversation and the profile, with no network."""

    token_delay_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "offline"

    def reply_text(self, messages: list[BaseMessage]) -> str:
        profile = _profile(messages)
        last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        text = str(last.content) if last else ""
        if re.search(r"what'?s my name|what is my name", text, re.I):
            if "name" in profile:
                return f"Your name is {profile['name']}."
            return "I don't know your name yet. (I'm the offline model.)"
        return f"(offline model) You said: {text}"

    def _tokens(self, text: str) -> list[str]:
        return re.findall(r"\S+\s*|\s+", text)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.reply_text(messages)
        msg = AIMessage(content=text, id=str(uuid.uuid4()), response_metadata={"finish_reason": "stop"})
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = self.reply_text(messages)
        msg_id = str(uuid.uuid4())
        for tok in self._tokens(text):
            if self.token_delay_s:
                time.sleep(self.token_delay_s)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=tok, id=msg_id))
            if run_manager:
                run_manager.on_llm_new_token(tok, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="", id=msg_id, response_metadata={"finish_reason": "stop", "model_name": "offline"}
            )
        )
