"""Settings: one typed, frozen object built once in ``main()``.

Precedence, lowest first: built-in defaults < the user's config file in the
platform config directory < ``--config PATH`` < environment (``CHAT_APP_...``,
``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) < command-line flags.

Every error names the file, the line (for TOML syntax errors) and the key, and
is raised as :class:`ConfigError` so the CLI can print one line and exit 78.
"""

from __future__ import annotations

import dataclasses
import getpass
import math
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "chat-app"
EX_CONFIG = 78


class ConfigError(Exception):
    """A configuration problem the person can fix; the message is one line."""


@dataclass(frozen=True)
class ModelSettings:
    name: str = "offline"
    """`offline` (no key, no network) or `openai:<model>` for any OpenAI-compatible server."""
    base_url: str = ""
    """Endpoint of the OpenAI-compatible server; empty means the OpenAI default."""
    api_key_file: str = ""
    """Path to a file holding the API key (must be 0600). OPENAI_API_KEY wins over it."""
    offline_token_delay_ms: float = 12.0
    """Pause between tokens of the offline model, so streaming is visible in demos."""
    connect_timeout_s: float = 10.0
    """Seconds to wait for the server to accept the connection."""
    read_timeout_s: float = 60.0
    """Seconds to wait for the next bytes of a reply before treating it as failed."""
    max_attempts: int = 5
    """Attempts per reply for transient failures (429, 5xx, timeouts, dropped streams)."""
    backoff_initial_s: float = 1.0
    """First retry delay; doubles each attempt (with jitter) up to backoff_max_s."""
    backoff_max_s: float = 20.0
    """Longest delay between two attempts."""
    max_retry_after_s: float = 60.0
    """A Retry-After longer than this is not waited for; the person is told instead."""
    context_tokens: int = 0
    """Tokens the model reads per request; 0: known for well-known names, 8192 otherwise."""
    reply_tokens: int = 0
    """Of context_tokens, kept for the reply; 0: a quarter, at most 4096."""


@dataclass(frozen=True)
class StorageSettings:
    backend: str = "sqlite"
    """`sqlite` (one file, nothing to install), `postgres` or `redis` (shared by many
    instances) or `memory` (nothing saved: gone when the program exits)."""
    data_dir: str = ""
    """Where chat.db lives; empty means the platform data directory."""
    dsn: str = ""
    """PostgreSQL connection string, used when backend = "postgres"."""
    redis_url: str = ""
    """Redis 8 (or Redis Stack 7.2+) URL, used when backend = "redis"."""
    busy_timeout_s: float = 30.0
    """How long a write waits for another writer before reporting the database busy."""


@dataclass(frozen=True)
class ShortTermSettings:
    redis_url: str = ""
    """Redis for session context across instances; empty keeps it in-process."""
    session_ttl_s: int = 7 * 24 * 3600
    """How long session context (open thread, drafts) is kept."""


@dataclass(frozen=True)
class UserSettings:
    id: str = ""
    """Whose threads and profile these are; empty means the OS user name."""


@dataclass(frozen=True)
class RecoverySettings:
    auto_resume: bool = False
    """Resume interrupted replies at start-up without asking."""


@dataclass(frozen=True)
class RetentionSettings:
    keep_old_branch_checkpoints: int = 200
    """Checkpoints kept per abandoned branch by `chat-app prune` (never the current branch)."""
    drop_branches_older_than_days: int = 90
    """Abandoned branches whose newest checkpoint is older than this are dropped by prune."""


@dataclass(frozen=True)
class UISettings:
    theme: str = "textual-dark"
    """Textual theme name."""
    show_sidebar: bool = True
    """Show the thread sidebar at start."""
    show_side_panel: bool = True
    """Show the History/Profile panel at start."""


@dataclass(frozen=True)
class ChaosSettings:
    fail_next: int = 0
    """Make the next N model calls fail with a transient error (demo the retry countdown)."""
    drop_stream_after: int = 0
    """Drop the reply stream after N tokens (demo an interrupted stream); 0 = off."""
    kill_after_tokens: int = 0
    """SIGKILL the process after N tokens of a reply (demo crash recovery); 0 = off."""


@dataclass(frozen=True)
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    short_term: ShortTermSettings = field(default_factory=ShortTermSettings)
    user: UserSettings = field(default_factory=UserSettings)
    recovery: RecoverySettings = field(default_factory=RecoverySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    ui: UISettings = field(default_factory=UISettings)
    chaos: ChaosSettings = field(default_factory=ChaosSettings)
    # Never written anywhere; kept out of repr so it cannot leak into logs.
    api_key: str = field(default="", repr=False, compare=False)
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def data_dir(self) -> Path:
        if self.storage.data_dir:
            return Path(self.storage.data_dir).expanduser()
        return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))

    @property
    def user_id(self) -> str:
        return self.user.id.strip() or _os_user()

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain data, without the secrets (for `config --show`):
        no API key, and URLs and DSNs without their passwords."""
        from chat_app.safe_text import redact_secrets

        out = {
            f.name: {
                k: redact_secrets(v) if isinstance(v, str) else v
                for k, v in dataclasses.asdict(getattr(self, f.name)).items()
            }
            for f in dataclasses.fields(self)
            if f.name in SECTIONS
        }
        out["model"]["api_key"] = "(set)" if self.api_key else "(not set)"
        return out


@dataclass(frozen=True)
class Bounds:
    """The values a numeric setting accepts: finite, ``low`` to ``high``."""

    low: float
    high: float
    low_allowed: bool = True
    """False: the value must be greater than ``low`` (zero would break it)."""

    def describe(self) -> str:
        low = f"{self.low:g} or more" if self.low_allowed else f"more than {self.low:g}"
        return f"{low}, at most {self.high:,g}"

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value) or value > self.high:
            return False
        return value >= self.low if self.low_allowed else value > self.low


HOUR_S = 3600.0
# Every numeric setting and what it accepts; a test checks none is missing.
# The upper bounds catch typos (a timeout in ms where seconds are meant) and
# values that would overflow what they feed (SQLite's busy timeout in ms).
NUMERIC_RANGES: dict[tuple[str, str], Bounds] = {
    ("model", "offline_token_delay_ms"): Bounds(0, 10_000),
    ("model", "connect_timeout_s"): Bounds(0, HOUR_S, low_allowed=False),
    ("model", "read_timeout_s"): Bounds(0, HOUR_S, low_allowed=False),
    ("model", "max_attempts"): Bounds(1, 100),
    ("model", "backoff_initial_s"): Bounds(0, HOUR_S, low_allowed=False),
    ("model", "backoff_max_s"): Bounds(0, HOUR_S, low_allowed=False),
    ("model", "max_retry_after_s"): Bounds(0, 24 * HOUR_S),
    ("model", "context_tokens"): Bounds(0, 100_000_000),
    ("model", "reply_tokens"): Bounds(0, 100_000_000),
    ("storage", "busy_timeout_s"): Bounds(0, HOUR_S, low_allowed=False),
    ("short_term", "session_ttl_s"): Bounds(1, 10 * 365 * 24 * HOUR_S),
    ("retention", "keep_old_branch_checkpoints"): Bounds(0, 1_000_000_000),
    ("retention", "drop_branches_older_than_days"): Bounds(0, 36_500),
    ("chaos", "fail_next"): Bounds(0, 999_999),
    ("chaos", "drop_stream_after"): Bounds(0, 999_999),
    ("chaos", "kill_after_tokens"): Bounds(0, 999_999),
}


def check_range(section: str, key: str, value: Any, where: str) -> None:
    """Refuse a number outside the setting's bounds (NaN and infinities included)."""
    bounds = NUMERIC_RANGES.get((section, key))
    if bounds is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    if not bounds.accepts(value):
        raise ConfigError(f"{where}: must be {bounds.describe()}, got {_show(value)}")


SECTIONS: dict[str, type[Any]] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
    if f.default_factory is not dataclasses.MISSING  # type: ignore[comparison-overlap]
}

USER_ID_MAX = 256


def user_id_problem(raw: str) -> str | None:
    """Why ``raw`` cannot be a user id, or None. Any name a person goes by is
    fine (dots, ``@``, spaces, ``/``, any script): the stores get it encoded
    (graphs.user_key). Spaces around it are dropped; control characters and
    lone surrogates (undecodable bytes) are not a name; the length bound keeps
    it inside a database index entry."""
    name = raw.strip()
    if not name:
        return "is empty; give a name, or leave it unset to use the login name"
    if len(name) > USER_ID_MAX:
        return f"is {len(name)} characters long; use at most {USER_ID_MAX}"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        return "contains a control character or an undecodable byte"
    return None


def _os_user() -> str:
    try:
        name = getpass.getuser()
    except Exception:
        name = "user"
    return name.strip() if user_id_problem(name) is None else "user"


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied (cannot read the config file)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            reason = msg[: m.start()].strip()
            raise ConfigError(f"{path}:{m.group(1)}:{m.group(2)}: {reason}") from None
        raise ConfigError(f"{path}: {msg}") from None


def _coerce(value: Any, typ: str, where: str) -> Any:
    """Check a TOML or environment value against the field's type."""
    if typ == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {_show(value)}")
    if typ == "int":
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a whole number, got {_show(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ConfigError(f"{where}: expected a whole number, got {_show(value)}")
    if typ == "float":
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {_show(value)}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {_show(value)}")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {_show(value)}")
    if "\x00" in value:
        raise ConfigError(f"{where}: contains a NUL character")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _merge_file(
    layers: dict[str, dict[str, Any]], data: Mapping[str, Any], origin: str, warnings: list[str]
) -> None:
    for section, body in data.items():
        if section not in SECTIONS:
            warnings.append(f"{origin}: unknown section [{section}] ignored")
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
        for key, value in body.items():
            if key not in fields:
                warnings.append(f"{origin}: unknown key {section}.{key} ignored")
                continue
            where = f"{origin}: {section}.{key}"
            layers[section][key] = _coerce(value, str(fields[key].type), where)
            check_range(section, key, layers[section][key], where)


ENV_SHORTCUTS = {
    "CHAT_APP_DATA_DIR": ("storage", "data_dir"),
    "CHAT_APP_USER": ("user", "id"),
    "CHAT_APP_MODEL": ("model", "name"),
    "OPENAI_BASE_URL": ("model", "base_url"),
}


def _merge_env(
    layers: dict[str, dict[str, Any]], env: Mapping[str, str], warnings: list[str]
) -> None:
    for name, (section, key) in ENV_SHORTCUTS.items():
        if env.get(name):
            layers[section][key] = env[name]
    for name, value in env.items():
        if not name.startswith("CHAT_APP_") or name in ENV_SHORTCUTS:
            continue
        rest = name[len("CHAT_APP_") :].lower()
        for section, cls in SECTIONS.items():
            prefix = section + "_"
            if rest.startswith(prefix):
                key = rest[len(prefix) :]
                fields = {f.name: f for f in dataclasses.fields(cls)}
                if key in fields:
                    where = f"environment {name} ({section}.{key})"
                    layers[section][key] = _coerce(value, str(fields[key].type), where)
                    check_range(section, key, layers[section][key], where)
                    break
        else:
            if name not in ("CHAT_APP_CONFIG",):
                warnings.append(f"environment {name}: not a known setting, ignored")


def _validate(s: Settings) -> None:
    name = s.model.name
    if name != "offline" and not (name.startswith("openai:") and len(name) > len("openai:")):
        raise ConfigError(f"model.name: unknown model {name!r}; use 'offline' or 'openai:<model>'")
    if s.storage.backend not in ("sqlite", "postgres", "redis", "memory"):
        raise ConfigError(
            f"storage.backend: {s.storage.backend!r} is not 'sqlite', 'postgres', 'redis'"
            " or 'memory'"
        )
    if s.storage.backend == "postgres" and not s.storage.dsn:
        raise ConfigError("storage.dsn: required when storage.backend = 'postgres'")
    if s.storage.backend == "redis" and not s.storage.redis_url:
        raise ConfigError("storage.redis_url: required when storage.backend = 'redis'")
    # Values from the command line or code reach here unchecked by the layers.
    for section, key in NUMERIC_RANGES:
        check_range(section, key, getattr(getattr(s, section), key), f"{section}.{key}")
    if 0 < s.model.context_tokens < 512:
        raise ConfigError("model.context_tokens: at least 512 (0 picks the model's default)")
    if s.model.context_tokens and s.model.reply_tokens >= s.model.context_tokens:
        raise ConfigError("model.reply_tokens: must be less than model.context_tokens")
    if s.user.id and (problem := user_id_problem(s.user.id)):
        raise ConfigError(f"user.id: {problem}")
    if s.model.base_url and not re.match(r"^https?://", s.model.base_url):
        raise ConfigError(
            # The value is not echoed: a URL can carry credentials.
            "model.base_url: must start with http:// or https://"
        )


def read_key_file(path: Path) -> str:
    """Read an API key file, refusing one that others can read."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the API key file: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: the API key file is readable by others; run: chmod 600 {path}")
    return path.read_text(encoding="utf-8").strip()


def load_settings(
    config_path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    use_user_config: bool = True,
    warnings: list[str] | None = None,
) -> Settings:
    """Build the settings from every layer; raise ConfigError on any bad value."""
    env = os.environ if env is None else env
    warns: list[str] = [] if warnings is None else warnings
    layers: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    sources: list[str] = ["defaults"]
    user_path = user_config_path()
    if use_user_config and user_path.is_file():
        _merge_file(layers, _read_toml(user_path), str(user_path), warns)
        sources.append(str(user_path))
    config_path = config_path or env.get("CHAT_APP_CONFIG") or None
    if config_path:
        path = Path(config_path).expanduser()
        if not path.exists():
            raise ConfigError(f"{path}: config file not found")
        _merge_file(layers, _read_toml(path), str(path), warns)
        sources.append(str(path))
    _merge_env(layers, env, warns)
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                layers[section][key] = value
    built = {name: SECTIONS[name](**values) for name, values in layers.items()}
    api_key = env.get("OPENAI_API_KEY", "")
    key_file = built["model"].api_key_file
    if not api_key and key_file:
        api_key = read_key_file(Path(key_file).expanduser())
    settings = Settings(**built, api_key=api_key, sources=tuple(sources))
    _validate(settings)
    return settings
