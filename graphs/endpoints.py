"""Where an OpenAI-compatible model lives, and whether it needs a key.

Plain functions (no client library imported), so the service can refuse a
missing key at start-up without loading the model's client.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from graphs.errors import ModelCallError

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY_MESSAGE = "no API key: set OPENAI_API_KEY or model.api_key_file"
# Local servers (Ollama, llama.cpp, LM Studio, vLLM) accept any key but the
# client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"

_LOCAL_HOSTNAMES = {"localhost", "host.docker.internal"}


def is_local_base_url(base_url: str) -> bool:
    """True for a server on this machine or the local network (no real key needed)."""
    try:
        host = (urlsplit(base_url).hostname or "").lower()
    except ValueError:
        return False
    if not host:
        return False
    if host in _LOCAL_HOSTNAMES or host.endswith((".localhost", ".local")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified


def api_key_for(api_key: str, base_url: str = "") -> str:
    """The key to send: the configured one, or a placeholder for a local server.

    Raises :class:`ModelCallError` when there is no key and the server is not
    a local one.
    """
    key = api_key.strip()
    if key:
        return key
    if base_url and is_local_base_url(base_url):
        return PLACEHOLDER_KEY
    raise ModelCallError(NO_KEY_MESSAGE)
