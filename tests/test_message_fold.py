"""The message reducer's shortcut (appending messages with new ids) gives
exactly what add_messages gives, for any sequence of writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, RemoveMessage
from langgraph.graph.message import add_messages

from graphs.state import add_message_batches

IDS = st.sampled_from([f"id{i}" for i in range(12)])


@st.composite
def message(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["human", "ai", "chunk", "remove"]))
    mid = draw(IDS)
    text = draw(st.text(max_size=5))
    if kind == "human":
        return HumanMessage(content=text, id=mid)
    if kind == "ai":
        return AIMessage(content=text, id=mid)
    if kind == "chunk":
        return AIMessageChunk(content=text, id=mid)
    return RemoveMessage(id=mid)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(message(), max_size=4), max_size=6), st.integers(1, 4))
def test_the_reducer_equals_add_messages(writes: list[list[object]], rounds: int) -> None:
    expected: list[object] = []
    ours: list[object] = []
    for _ in range(rounds):
        for w in writes:
            try:
                expected = add_messages(expected, w)  # type: ignore[arg-type]
            except ValueError:
                return  # removing an id that is not there: add_messages refuses
            ours = add_message_batches(ours, [w])  # type: ignore[arg-type]
            assert [(type(m), m.id, m.content) for m in ours] == [
                (type(m), m.id, m.content) for m in expected
            ]
