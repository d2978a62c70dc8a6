"""The ``openai`` model against a real chat-completions server on loopback.

Covers T14-T16 at the provider level: the client makes exactly one HTTP
attempt per call whatever the fault (its own retries are off), every fault is
classified (transient or not, Retry-After, one-line messages without the
key), timeouts fire when configured, and truncated streams are detected.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from graphs.context import ChatContext
from graphs.errors import ModelCallError, StreamInterrupted, TransientModelError, classify
from graphs.extract import Statement
from graphs.graph import build_graph
from graphs.providers import (
    NO_KEY_MESSAGE,
    classify_provider_error,
    is_local_base_url,
    make_openai_model,
    parse_retry_after,
    sanitize,
    structured_extractor,
    to_statement,
)
from tests.fake_openai import FakeOpenAI

KEY = "sk-test-SENTINEL-" + "q7Zx" * 8
READ_TIMEOUT = 0.5
LONG_TEXT = "one two three four five six seven eight"


def model_for(fake: FakeOpenAI, read_timeout_s: float = READ_TIMEOUT) -> BaseChatModel:
    return make_openai_model(
        "fake-model",
        api_key=KEY,
        base_url=fake.base_url,
        connect_timeout_s=1.0,
        read_timeout_s=read_timeout_s,
    )


def stream_all(model: BaseChatModel, text: str = LONG_TEXT) -> list[AIMessageChunk]:
    return [c for c in model.stream([HumanMessage(text)]) if isinstance(c, AIMessageChunk)]


def fail(model: BaseChatModel, text: str = LONG_TEXT) -> tuple[BaseException, list[str]]:
    """Stream until the call fails; the exception and the text received before it."""
    got: list[str] = []
    try:
        for chunk in model.stream([HumanMessage(text)]):
            got.append(str(chunk.content))
    except Exception as exc:
        return exc, got
    raise AssertionError(f"the call did not fail; received {''.join(got)!r}")


def assert_clean(err: ModelCallError) -> None:
    for text in (err.user_message, str(err), repr(err)):
        assert KEY not in text
        assert "SENTINEL" not in text
        assert "\n" not in text


# -- construction ---------------------------------------------------------------------


def test_streams_reply_with_finish_reason_and_usage(fake: FakeOpenAI) -> None:
    chunks = stream_all(model_for(fake), "hello there world")

    assert "".join(str(c.content) for c in chunks) == "Echo: hello there world"
    finishes = [c.response_metadata.get("finish_reason") for c in chunks]
    assert [f for f in finishes if f] == ["stop"]
    assert any(c.usage_metadata for c in chunks)
    assert fake.count == 1
    request = fake.requests[0]
    assert request.stream
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.authorization == f"Bearer {KEY}"


def test_key_is_not_in_the_model_repr(fake: FakeOpenAI) -> None:
    model = model_for(fake)
    assert KEY not in repr(model)
    assert KEY not in str(model.model_dump())


def test_missing_key_is_refused_for_remote_servers() -> None:
    with pytest.raises(ModelCallError) as info:
        make_openai_model("gpt-4o-mini", api_key="")
    assert info.value.user_message == NO_KEY_MESSAGE
    assert not info.value.transient
    with pytest.raises(ModelCallError):
        make_openai_model("m", api_key="  ", base_url="https://api.example.com/v1")


def test_missing_key_is_fine_for_a_local_server(fake: FakeOpenAI) -> None:
    model = make_openai_model("llama3", api_key="", base_url=fake.base_url)
    stream_all(model, "hi")
    assert fake.requests[0].authorization == "Bearer not-needed"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:11434/v1", True),
        ("http://localhost:8080/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://192.168.1.20:11434/v1", True),
        ("http://gpu-box.local:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://8.8.8.8/v1", False),
        ("not a url", False),
    ],
)
def test_is_local_base_url(url: str, local: bool) -> None:
    assert is_local_base_url(url) is local


# -- one attempt per call, and classification ---------------------------------------------

TRANSIENT_STATUSES = [
    pytest.param(429, {"Retry-After": "1"}, 1.0, id="429-retry-after-1"),
    pytest.param(429, {"retry-after-ms": "250"}, 0.25, id="429-retry-after-ms"),
    pytest.param(429, {}, None, id="429-no-header"),
    pytest.param(500, {}, None, id="500"),
    pytest.param(502, {}, None, id="502"),
    pytest.param(503, {"Retry-After": "2"}, 2.0, id="503-retry-after"),
    pytest.param(504, {}, None, id="504"),
]


@pytest.mark.parametrize(("code", "headers", "retry_after"), TRANSIENT_STATUSES)
def test_transient_status_makes_one_attempt(
    fake: FakeOpenAI, code: int, headers: dict[str, str], retry_after: float | None
) -> None:
    fake.status(code, headers=headers)
    exc, got = fail(model_for(fake))

    assert fake.count == 1, "the client retried on its own"
    assert got == []
    err = classify_provider_error(exc)
    assert isinstance(err, TransientModelError)
    assert err.transient
    assert err.status == code
    assert err.retry_after == retry_after
    assert_clean(err)


def test_rate_limit_message(fake: FakeOpenAI) -> None:
    fake.status(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "1"})
    err = classify(fail(model_for(fake))[0])
    assert err.user_message == "rate limited by the model server (429), retry in 1 s"


CONTEXT_BODY = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your "
        "messages resulted in 9000 tokens.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
}

FINAL_STATUSES = [
    pytest.param(
        400,
        CONTEXT_BODY,
        "the conversation is too long for this model's context window",
        id="400-context",
    ),
    pytest.param(
        400,
        {"error": {"message": "too many tokens in the prompt"}},
        "the conversation is too long for this model's context window",
        id="400-too-many-tokens",
    ),
    pytest.param(
        400,
        {"error": {"message": "temperature must be <= 2"}},
        "bad request (400): temperature must be <= 2",
        id="400-plain",
    ),
    pytest.param(
        401,
        {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}},
        "the API key was rejected (401): check OPENAI_API_KEY",
        id="401",
    ),
    pytest.param(403, None, "permission denied (403)", id="403"),
    pytest.param(
        404,
        {"error": {"message": "The model `nope` does not exist"}},
        "unknown model or wrong base_url (404)",
        id="404",
    ),
    pytest.param(422, {"detail": "messages: field required"}, "invalid request (422)", id="422"),
]


@pytest.mark.parametrize(("code", "body", "message"), FINAL_STATUSES)
def test_final_status_makes_one_attempt_and_is_not_retried(
    fake: FakeOpenAI, code: int, body: object, message: str
) -> None:
    fake.status(code, body)
    exc, _ = fail(model_for(fake))

    assert fake.count == 1
    err = classify_provider_error(exc)
    assert not err.transient
    assert not isinstance(err, TransientModelError)
    assert err.status == code
    assert err.user_message.startswith(message)
    assert_clean(err)


def test_error_bodies_echoing_the_key_are_scrubbed(fake: FakeOpenAI) -> None:
    leaky = {"error": {"message": f"key {KEY} / Bearer {KEY} / api_key={KEY} not allowed"}}
    for code in (400, 403, 422, 418, 500):
        fake.status(code, leaky)
        err = classify(fail(model_for(fake))[0])
        assert_clean(err)
    assert fake.count == 5


def test_connection_refused_is_transient_and_names_the_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = make_openai_model(
        "m", api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", connect_timeout_s=1.0
    )
    err = classify(fail(model)[0])
    assert err.transient
    assert err.user_message == f"connection to 127.0.0.1:{port} failed"
    assert_clean(err)


# -- timeouts --------------------------------------------------------------------------


def test_read_timeout_fires_within_the_configured_time(fake: FakeOpenAI) -> None:
    fake.hang(5)
    started = time.monotonic()
    exc, _ = fail(model_for(fake))
    elapsed = time.monotonic() - started

    # Not before the configured time, and long before the server's 5 s hang
    # ends (the upper bound leaves room for a loaded machine).
    assert READ_TIMEOUT * 0.9 <= elapsed <= READ_TIMEOUT * 2, elapsed
    assert fake.count == 1
    err = classify(exc)
    assert err.transient
    assert err.user_message == "the model server did not answer in time"


def test_slow_first_byte_under_the_timeout_succeeds(fake: FakeOpenAI) -> None:
    fake.slow_first_byte(0.2)
    chunks = stream_all(model_for(fake))
    assert "".join(str(c.content) for c in chunks) == f"Echo: {LONG_TEXT}"
    assert fake.count == 1


def test_slow_first_byte_over_the_timeout_fails(fake: FakeOpenAI) -> None:
    fake.slow_first_byte(3)
    err = classify(fail(model_for(fake))[0])
    assert err.transient
    assert fake.count == 1


def test_stall_mid_stream_is_an_interruption(fake: FakeOpenAI) -> None:
    fake.stall_after(2, 5)
    started = time.monotonic()
    exc, got = fail(model_for(fake))
    elapsed = time.monotonic() - started

    assert "".join(got) == "Echo: one "
    assert elapsed <= READ_TIMEOUT * 1.2 + 0.2, elapsed
    err = classify(exc)
    assert isinstance(err, StreamInterrupted)
    assert fake.count == 1


# -- truncated streams (T16) ----------------------------------------------------------------


def test_dropped_stream_raises_and_is_an_interruption(fake: FakeOpenAI) -> None:
    fake.drop_after(2)
    exc, got = fail(model_for(fake))

    assert "".join(got) == "Echo: one "
    assert fake.count == 1
    err = classify(exc)
    assert isinstance(err, StreamInterrupted)
    assert err.transient
    assert "dropped" in err.user_message
    assert_clean(err)


def test_clean_eof_without_finish_reason_raises_nothing_but_has_no_finish(
    fake: FakeOpenAI,
) -> None:
    fake.eof_without_finish(2)
    chunks = stream_all(model_for(fake))

    assert "".join(str(c.content) for c in chunks) == "Echo: one "
    assert all(not c.response_metadata.get("finish_reason") for c in chunks)
    assert fake.count == 1


@pytest.mark.parametrize("fault", ["drop_after", "eof_without_finish"])
def test_respond_node_flags_both_truncations(fake: FakeOpenAI, fault: str) -> None:
    getattr(fake, fault)(2)
    graph = build_graph(model_for(fake)).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(StreamInterrupted) as info:
        graph.invoke(
            {"messages": [HumanMessage(LONG_TEXT, id="u1")]}, config, context=ChatContext()
        )

    assert info.value.partial == "Echo: one "
    assert fake.count == 1
    state = graph.get_state(config)
    assert not any(isinstance(m, AIMessage) for m in state.values.get("messages", []))
    assert state.next == ("respond",)


def test_respond_node_completes_a_normal_stream(fake: FakeOpenAI) -> None:
    graph = build_graph(model_for(fake)).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config = {"configurable": {"thread_id": "t"}}
    out = graph.invoke({"messages": [HumanMessage("hi", id="u1")]}, config, context=ChatContext())

    reply = out["messages"][-1]
    assert isinstance(reply, AIMessage)
    assert reply.content == "Echo: hi"
    assert reply.response_metadata["finish_reason"] == "stop"
    assert fake.count == 1


# -- classification without a server -----------------------------------------------------


def test_python_timeouts_and_connection_errors_are_transient() -> None:
    assert classify_provider_error(TimeoutError()).transient
    assert classify_provider_error(ConnectionResetError()).transient


def test_unknown_exceptions_are_final_and_named() -> None:
    err = classify_provider_error(ValueError(f"boom {KEY}"))
    assert not err.transient
    assert err.user_message.startswith("model call failed: ValueError: boom")
    assert_clean(err)


def test_model_call_errors_pass_through() -> None:
    original = TransientModelError("x", retry_after=3.0)
    assert classify_provider_error(original) is original


def test_retry_after_http_date() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": header}, now=now.timestamp()) == 30.0
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now.timestamp()) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-5"}) is None
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5


def test_sanitize_makes_one_short_line_without_secrets() -> None:
    text = f"line one\nBearer {KEY}\x1b]52;c;evil\x07 token: abc123 {'x' * 500}"
    out = sanitize(text)
    assert "\n" not in out and "\x1b" not in out and "\x07" not in out
    assert KEY not in out and "abc123" not in out
    assert len(out) <= 160


# -- structured extraction -----------------------------------------------------------------


def test_structured_extractor_returns_statements(fake: FakeOpenAI) -> None:
    fake.structured(
        {
            "statements": [
                {"kind": "name", "subject": "", "value": "alice"},
                {"kind": "like", "subject": "Jazz", "value": "jazz"},
                {"kind": "dislike", "subject": "mornings", "value": "early mornings"},
                {"kind": "preference", "subject": "Answer length", "value": "short"},
                {"kind": "fact", "subject": "pet", "value": "has a cat named Tom"},
                {"kind": "location", "subject": "", "value": "Lisbon"},
                {"kind": "job", "subject": "", "value": "nurse"},
                {"kind": "horoscope", "subject": "", "value": "Leo"},
                {"kind": "like", "subject": "", "value": ""},
            ]
        }
    )
    extract = structured_extractor(model_for(fake))
    got = extract("I'm Alice, a nurse in Lisbon; I love jazz ...")

    assert got == [
        Statement("name", "name", "Alice"),
        Statement("like", "like:jazz", "jazz", ("dislike:jazz",)),
        Statement("dislike", "dislike:mornings", "early mornings", ("like:mornings",)),
        Statement("preference", "preference:answer length", "short"),
        Statement("fact", "fact:pet", "has a cat named Tom"),
        Statement("location", "location", "Lisbon"),
        Statement("job", "job", "nurse"),
    ]
    assert fake.count == 1
    body = fake.requests[0].body
    assert body["response_format"]["type"] == "json_schema"
    assert not body.get("stream")
    assert body["messages"][-1] == {
        "role": "user",
        "content": "I'm Alice, a nurse in Lisbon; I love jazz ...",
    }


@pytest.mark.parametrize(
    ("script", "transient"),
    [
        pytest.param(lambda f: f.status(500), True, id="500"),
        pytest.param(lambda f: f.status(401), False, id="401"),
        pytest.param(lambda f: f.ok("this is not json"), True, id="not-json"),
        pytest.param(lambda f: f.structured({"statements": "nope"}), True, id="wrong-shape"),
        pytest.param(lambda f: f.hang(5), True, id="hang"),
    ],
)
def test_structured_extractor_failures_are_classified_not_guessed(
    fake: FakeOpenAI, script: object, transient: bool
) -> None:
    """No guessing by rules ("nurse in Oslo" as a job): the caller's retry layer decides."""
    script(fake)  # type: ignore[operator]
    extract = structured_extractor(model_for(fake))
    with pytest.raises(ModelCallError) as caught:
        extract("hello, my name is bob")
    assert caught.value.transient is transient
    assert "\n" not in caught.value.user_message and "bob" not in caught.value.user_message
    assert fake.count == 1


def test_structured_extractor_reads_json_in_a_code_fence(fake: FakeOpenAI) -> None:
    fake.ok(
        'Sure!\n```json\n{"statements": [{"kind": "job", "subject": "", "value": "nurse"}]}\n```'
    )
    extract = structured_extractor(model_for(fake))
    assert extract("I'm a nurse") == [Statement("job", "job", "nurse")]


def test_a_server_without_json_schema_gets_json_object_then_plain_json(fake: FakeOpenAI) -> None:
    refused = {"error": {"message": "response_format json_schema is not supported"}}
    fake.status(400, refused).status(400, refused)
    fake.ok('{"statements": [{"kind": "name", "subject": "", "value": "Bob"}]}', times=2)
    extract = structured_extractor(model_for(fake))
    assert extract("my name is Bob") == [Statement("name", "name", "Bob")]
    formats = [(r.body.get("response_format") or {}).get("type") for r in fake.requests]
    assert formats == ["json_schema", "json_object", None]
    # The format that worked is kept: the next message costs one request.
    assert extract("call me Bob") == [Statement("name", "name", "Bob")]
    assert fake.count == 4


def test_structured_extractor_without_text_asks_nothing(fake: FakeOpenAI) -> None:
    extract = structured_extractor(model_for(fake))
    assert extract("") == []
    assert extract("   ") == []
    assert fake.count == 0


def test_to_statement_rejects_unusable_items() -> None:
    assert to_statement("mood", "", "happy") is None
    assert to_statement("name", "", "  ") is None
    assert to_statement("fact", "", "") is None
    assert to_statement("LIKE", " Green Tea. ", "green tea") == Statement(
        "like", "like:green tea", "green tea", ("dislike:green tea",)
    )
    assert to_statement("fact", "Favourite number!", "42") == Statement(
        "fact", "fact:favourite-number", "42"
    )
