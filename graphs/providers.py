"""The ``openai`` model: construction, error classification, structured extraction.

Everything specific to OpenAI-compatible servers (OpenAI, Ollama, vLLM,
llama.cpp, LM Studio) lives here:

* :func:`make_openai_model` builds a streaming ``ChatOpenAI`` whose client
  never retries on its own: the service is the app's only retry layer, and a
  second layer underneath multiplies attempts (measured: 9 instead of 3).
* :func:`classify_provider_error` turns whatever the client raised into a
  :class:`~graphs.errors.ModelCallError` with a one-line message a person can
  act on, marked transient only for what is worth another attempt. Messages
  never contain the API key.
* :func:`structured_extractor` asks the model for profile statements through
  structured output; its failures are classified like a reply's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, SecretStr

from graphs.endpoints import NO_KEY_MESSAGE as NO_KEY_MESSAGE  # re-exported
from graphs.endpoints import OPENAI_BASE_URL as OPENAI_BASE_URL  # re-exported
from graphs.endpoints import PLACEHOLDER_KEY as PLACEHOLDER_KEY  # re-exported
from graphs.endpoints import api_key_for, is_local_base_url
from graphs.errors import (
    MalformedReply,
    ModelCallError,
    StreamInterrupted,
    TransientModelError,
)
from graphs.extract import KINDS, Statement

__all__ = [
    "classify_provider_error",
    "is_local_base_url",
    "make_openai_model",
    "structured_extractor",
]


def make_openai_model(
    model: str,
    *,
    api_key: str,
    base_url: str = "",
    connect_timeout_s: float = 10.0,
    read_timeout_s: float = 60.0,
) -> BaseChatModel:
    """A streaming ``ChatOpenAI`` with client retries off and separate timeouts.

    Raises :class:`ModelCallError` when there is no key and the server is not
    a local one.
    """
    from langchain_openai import ChatOpenAI

    key = api_key_for(api_key, base_url)
    # openai.Timeout is the httpx flavour the installed SDK uses (httpx2 on openai>=3).
    # Read also bounds the gap between stream chunks; write and pool share it.
    timeout = openai.Timeout(read_timeout_s, connect=connect_timeout_s)
    return ChatOpenAI(
        model=model,
        api_key=SecretStr(key),
        # Explicit, so no environment variable (OPENAI_API_BASE, a LangSmith
        # gateway) can send this key to some other host.
        base_url=base_url or OPENAI_BASE_URL,
        timeout=timeout,
        max_retries=0,
        streaming=True,
        stream_usage=True,
    )


# -- error classification --------------------------------------------------------

_CONTEXT_PATTERNS = re.compile(
    r"context[ _-]?length|maximum context|context[ _-]window|too many tokens"
    r"|prompt is too long|context_length_exceeded|exceeds the context",
    re.IGNORECASE,
)
_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"(?i)(api[_-]?key|authorization|token|secret)(\"?\s*[:=]\s*\"?)[^\s\"',;}]+"),
    re.compile(r"\bsk-[A-Za-z0-9_*.\-]{6,}"),
    # Long opaque tokens (keys from other providers); ordinary words are shorter.
    re.compile(r"\b[A-Za-z0-9_\-]{32,}\b"),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MAX_DETAIL = 160


def _request_key(exc: BaseException) -> str:
    """The key the failed request carried, so it can be cut out of any text."""
    request = getattr(exc, "request", None)
    try:
        auth = str(request.headers.get("authorization", "")) if request is not None else ""
    except Exception:
        return ""
    return auth.split(None, 1)[1].strip() if " " in auth else auth.strip()


def sanitize(text: str, secrets: tuple[str, ...] = ()) -> str:
    """One short line with no key-like strings or control characters."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1].rstrip() + "…"
    return text


def _body_text(exc: BaseException) -> str:
    """The server's own error message, from the parsed body or the raw response."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            return str(error.get("message") or error.get("detail") or json.dumps(dict(error)))
        return str(error)
    if body is not None:
        return str(body)
    message = getattr(exc, "message", None)
    return str(message) if message else str(exc)


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _headers_of(exc: BaseException) -> Mapping[str, str]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        value = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, value)
    return value if value >= 0 else None


def _host_of(exc: BaseException) -> str:
    for candidate in (exc, exc.__cause__, exc.__context__):
        if candidate is None:
            continue
        try:
            request = getattr(candidate, "request", None)
        except RuntimeError:
            # httpx raises when an error has no request attached.
            continue
        url = getattr(request, "url", None)
        host = getattr(url, "host", None)
        if host:
            port = getattr(url, "port", None)
            return f"{host}:{port}" if port else str(host)
    return "the model server"


def _raised_mid_stream(exc: BaseException) -> bool:
    """Whether the error came out of the SDK's SSE reader, i.e. after the reply began.

    The SDK wraps transport errors the same way before and during the body;
    only where it was raised tells a failed request from a cut-off reply.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename.endswith("_streaming.py") and "openai" in code.co_filename:
                return True
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return False


def _classify_status(exc: BaseException, status: int) -> ModelCallError:
    secrets = (_request_key(exc),)
    detail = sanitize(_body_text(exc), secrets)
    suffix = f": {detail}" if detail else ""
    if status == 429:
        retry_after = parse_retry_after(_headers_of(exc))
        when = f", retry in {retry_after:.0f} s" if retry_after is not None else ""
        return TransientModelError(
            f"rate limited by the model server (429){when}", retry_after=retry_after, status=429
        )
    if status >= 500 or status in (408, 409):
        retry_after = parse_retry_after(_headers_of(exc))
        return TransientModelError(
            f"the model server had a problem ({status}), try again",
            retry_after=retry_after,
            status=status,
        )
    if status in (400, 413, 422) and _CONTEXT_PATTERNS.search(_body_text(exc)):
        return ModelCallError(
            "the conversation is too long for this model's context window", status=status
        )
    if status == 401:
        return ModelCallError("the API key was rejected (401): check OPENAI_API_KEY", status=401)
    if status == 403:
        return ModelCallError(
            f"permission denied (403): this key may not use this model{suffix}", status=403
        )
    if status == 404:
        return ModelCallError("unknown model or wrong base_url (404)", status=404)
    if status == 422:
        return ModelCallError(f"invalid request (422){suffix}", status=422)
    if status == 400:
        return ModelCallError(f"bad request (400){suffix}", status=400)
    if status == 413:
        return ModelCallError("the request is too large for the model server (413)", status=413)
    return ModelCallError(f"the model server refused the request ({status}){suffix}", status=status)


def _httpx_errors(name: str) -> tuple[type[BaseException], ...]:
    """The named exception class from httpx and, when installed, httpx2 (openai>=3)."""
    classes: list[type[BaseException]] = [getattr(httpx, name)]
    try:
        import httpx2  # type: ignore[import-not-found, unused-ignore]

        classes.append(getattr(httpx2, name))
    except ImportError:
        pass
    return tuple(classes)


_TIMEOUTS = _httpx_errors("TimeoutException")
_TRANSPORT = _httpx_errors("TransportError")


def classify_provider_error(exc: BaseException) -> ModelCallError:
    """Map an exception from an OpenAI-compatible client to a ModelCallError.

    Transient: 429 (with ``retry_after`` from the headers), 408, 409, 5xx,
    timeouts and connection errors. A transport error raised while the reply
    body was being read (the SDK wraps the ones before it) is a
    :class:`StreamInterrupted`. Everything else is final.
    """
    if isinstance(exc, ModelCallError):
        return exc
    status = _status_of(exc)
    if status is not None and status >= 400:
        return _classify_status(exc, status)
    if isinstance(exc, openai.APIConnectionError) and _raised_mid_stream(exc):
        if isinstance(exc, openai.APITimeoutError):
            return StreamInterrupted(
                "the model server stopped answering in the middle of the reply"
            )
        return StreamInterrupted(
            f"connection to {_host_of(exc)} dropped in the middle of the reply"
        )
    if isinstance(exc, openai.APITimeoutError):
        return TransientModelError("the model server did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return TransientModelError(f"connection to {_host_of(exc)} failed")
    if isinstance(exc, _TIMEOUTS):
        return StreamInterrupted("the model server stopped answering in the middle of the reply")
    if isinstance(exc, _TRANSPORT):
        return StreamInterrupted(
            f"connection to {_host_of(exc)} dropped in the middle of the reply"
        )
    if isinstance(exc, json.JSONDecodeError):
        # A garbled SSE chunk or body (a proxy cutting a line, a buggy
        # server): the next attempt usually reads fine.
        if _raised_mid_stream(exc):
            return MalformedReply("the model server sent a malformed chunk mid-reply")
        return MalformedReply("the model server sent a malformed reply")
    if isinstance(exc, TimeoutError):
        return TransientModelError("the model server did not answer in time")
    if isinstance(exc, ConnectionError):
        return TransientModelError(f"connection to {_host_of(exc)} failed")
    secrets = (_request_key(exc),)
    if isinstance(exc, openai.APIError):
        # An error event inside an otherwise healthy stream: the server gave up mid-reply.
        detail = sanitize(_body_text(exc), secrets)
        if _CONTEXT_PATTERNS.search(detail):
            return ModelCallError("the conversation is too long for this model's context window")
        return TransientModelError(f"the model server reported an error: {detail}")
    detail = sanitize(str(exc), secrets)
    return ModelCallError(
        f"model call failed: {type(exc).__name__}" + (f": {detail}" if detail else "")
    )


# -- structured profile extraction ---------------------------------------------------

_SINGLE = ("name", "location", "job")
_OPPOSITE = {"like": "dislike", "dislike": "like"}

EXTRACTION_PROMPT = """\
You read one message a user wrote to a chat assistant and list what it says \
about the user themself, for their long-term profile. Return an empty list \
when it says nothing about them (questions, requests, small talk, things \
about other people).

Each statement has a kind, a subject and a value:
- name: what the user is called. subject "", value the name ("Alice").
- location: where the user lives or is based. subject "", value the place.
- job: the user's occupation. subject "", value the job ("nurse").
- like: something the user likes. subject the thing ("jazz"), value the same.
- dislike: something the user dislikes. subject the thing, value the same.
- preference: how the user wants answers or things done. subject the aspect \
("answer length", "language"), value the preference ("short", "French").
- fact: any other lasting fact about the user. subject a 1-4 word topic \
("pet", "allergy"), value the fact as a short sentence ("has a cat named Tom").

Only what the user states about themself, in their words; never guess."""


class _ExtractedStatement(BaseModel):
    kind: str = Field(description="one of: name, location, job, like, dislike, preference, fact")
    subject: str = Field(
        description='the liked/disliked thing, preference aspect or fact topic; "" otherwise'
    )
    value: str = Field(description="the value to remember")


class ProfileStatements(BaseModel):
    """Statements the user made about themself in their message."""

    statements: list[_ExtractedStatement] = Field(default_factory=list)


def _slug(text: str, limit: int = 48) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower()).strip("-_")
    return slug[:limit].rstrip("-_")


def _item(text: str) -> str:
    """A like/dislike/preference subject as used in keys: lower case, single spaces."""
    item = re.sub(r"\s+", " ", text).strip().strip(".,;:!?\"'").strip().lower()
    return item[:80]


def to_statement(kind: str, subject: str, value: str) -> Statement | None:
    """Build a Statement with the rule extractor's key conventions, or None if unusable."""
    kind = kind.strip().lower()
    value = re.sub(r"\s+", " ", _CONTROL.sub(" ", value)).strip()[:300]
    subject = _CONTROL.sub(" ", subject)
    if kind not in KINDS:
        return None
    if kind in _SINGLE:
        if not value:
            return None
        if kind == "name":
            value = value[:1].upper() + value[1:]
        return Statement(kind, kind, value)
    if kind in _OPPOSITE:
        item = _item(subject) or _item(value)
        if not item:
            return None
        return Statement(kind, f"{kind}:{item}", value or item, (f"{_OPPOSITE[kind]}:{item}",))
    if not value:
        return None
    if kind == "preference":
        aspect = _item(subject) or _item(value)
        return Statement(kind, f"preference:{aspect}", value)
    slug = _slug(subject) or _slug(value)
    if not slug:
        return None
    return Statement(kind, f"fact:{slug}", value)


_FORMATS: tuple[dict[str, Any] | None, ...] = (
    {
        "type": "json_schema",
        "json_schema": {
            "name": "profile_statements",
            "schema": ProfileStatements.model_json_schema(),
        },
    },
    {"type": "json_object"},
    None,
)
_JSON_HINT = (
    '\n\nReply with JSON only: {"statements": [{"kind": ..., "subject": ..., "value": ...}]}.'
)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_statements(text: str) -> ProfileStatements:
    """The statements in a reply: plain JSON, JSON in a code fence, or the first
    JSON object in the text. Raises ValueError when there is none."""
    raw = _FENCE.sub("", text.strip())
    candidates = [raw]
    start, end = raw.find("{"), raw.rfind("}")
    if 0 <= start < end:
        candidates.append(raw[start : end + 1])
    for candidate in candidates:
        try:
            return ProfileStatements.model_validate_json(candidate)
        except ValueError:
            continue
    raise ValueError("no profile statements in the reply")


def _refused_format(err: ModelCallError) -> bool:
    """A request refused for its response_format (the server does not support it)."""
    return err.status in (400, 422) and "context window" not in err.user_message


def structured_extractor(model: BaseChatModel) -> Callable[[str], list[Statement]]:
    """Extract profile statements from one message of the person, asking the model.

    Structured output where the server has it (a JSON schema, else a JSON
    object, else JSON asked for in the prompt: the first format the server
    accepts is kept for later calls). Raises :class:`ModelCallError`
    (classified: the caller's retry layer decides) when the model fails or
    its answer is not usable; never falls back to guessing by rules.
    """
    from graphs.summarizer import non_streaming

    target = non_streaming(model)
    level = [0]

    def extract(text: str) -> list[Statement]:
        if not text.strip():
            return []
        while True:
            fmt = _FORMATS[level[0]]
            runnable: Any = target if fmt is None else target.bind(response_format=fmt)
            prompt = EXTRACTION_PROMPT + _JSON_HINT
            try:
                reply = runnable.invoke([SystemMessage(prompt), HumanMessage(text)])
            except Exception as exc:
                err = classify_provider_error(exc)
                if _refused_format(err) and level[0] + 1 < len(_FORMATS):
                    level[0] += 1
                    continue
                raise err from exc
            break
        try:
            result = parse_statements(reply.text)
        except ValueError:
            # The reply quotes the person's words: only its absence of shape is told.
            raise MalformedReply("the model's profile answer was not the JSON asked for") from None
        out: list[Statement] = []
        seen: set[str] = set()
        for raw in result.statements:
            statement = to_statement(raw.kind, raw.subject, raw.value)
            if statement is not None and statement.key not in seen:
                seen.add(statement.key)
                out.append(statement)
        return out

    return extract
