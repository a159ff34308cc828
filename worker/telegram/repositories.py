"""Repositories: sets of bots and chats that fail together, each holding a whole copy of a backup.

A repository is one Telegram account's bots and the chats they write to: a revoked token, a
deleted chat or a limited account takes the whole repository at once, and never another one.
TELEGRAM_REPOSITORIES_FILE (TOML, one [repositories.NAME] table each, as SOURCE_SERVERS_FILE
names servers) lists them; TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are the repository
`default`. BACKUP_COPIES of every backup go to that many repositories, the first ones by name
with `default` first (docs/fleet.md, "Copies").

The file holds no token: each repository's tokens come from its `bot_token_file`, read at
start-up, so the file can be shown to anyone who may see the chat ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from worker import errors, registry_file, settings, syntax

DEFAULT_REPOSITORY = "default"
_FILE = registry_file.Kind(
    setting="TELEGRAM_REPOSITORIES_FILE",
    key="repositories",
    noun="repository",
    keys=frozenset({"bot_token_file", "chat_ids", "thread_id"}),
    shape="a table with bot_token_file and chat_ids",
)


@dataclass(frozen=True)
class Repository:
    """One repository: its bots (tokens, first one first) and its chats."""

    name: str
    bot_tokens: tuple[SecretStr, ...] = field(repr=False)
    chat_ids: tuple[str, ...]
    thread_id: int | None = None

    @property
    def bot_ids(self) -> tuple[str, ...]:
        """The bots' public ids (the token's part before ':'), as backup_parts records them."""
        return tuple(token.get_secret_value().split(":", 1)[0] for token in self.bot_tokens)


class Repositories:
    """The configured repositories by name, `default` first; built once and validated whole."""

    def __init__(self, repositories: Mapping[str, Repository], copies: int = 1) -> None:
        if not repositories:
            raise errors.ConfigError("no Telegram repository is configured")
        first = [repositories[DEFAULT_REPOSITORY]] if DEFAULT_REPOSITORY in repositories else []
        rest = [repositories[name] for name in sorted(repositories) if name != DEFAULT_REPOSITORY]
        self._repositories = {repo.name: repo for repo in first + rest}
        if copies > len(self._repositories):
            raise errors.ConfigError(
                f"BACKUP_COPIES={copies} but only {len(self._repositories)} Telegram "
                f"repositor{'y is' if len(self._repositories) == 1 else 'ies are'} configured "
                f"({', '.join(self._repositories)}): each copy needs its own repository; add "
                "[repositories.NAME] tables to TELEGRAM_REPOSITORIES_FILE or lower BACKUP_COPIES"
            )
        self.copies = copies
        self._check_disjoint()

    @classmethod
    def load(cls, config: settings.Settings) -> Repositories:
        """The file's repositories plus `default` from TELEGRAM_BOT_TOKEN/TELEGRAM_CHAT_ID."""
        repositories: dict[str, Repository] = {}
        if config.telegram_repositories_file is not None:
            repositories = read_file(config.telegram_repositories_file)
        if config.telegram_configured:
            if DEFAULT_REPOSITORY in repositories:
                raise errors.ConfigError(
                    f"{config.telegram_repositories_file}: [repositories.{DEFAULT_REPOSITORY}] "
                    "and TELEGRAM_BOT_TOKEN/TELEGRAM_CHAT_ID both define the repository "
                    "'default': remove one of them"
                )
            repositories[DEFAULT_REPOSITORY] = Repository(
                DEFAULT_REPOSITORY,
                config.telegram_bot_tokens,
                config.active_chat_ids,
                config.telegram_thread_id,
            )
        return cls(repositories, config.backup_copies)

    def get(self, name: str) -> Repository:
        """The repository called `name`; InputError naming the known ones otherwise."""
        repo = self._repositories.get(name)
        if repo is None:
            known = ", ".join(self._repositories)
            raise errors.InputError(f"unknown repository {name[:40]!r}: known are {known}")
        return repo

    @property
    def targets(self) -> tuple[Repository, ...]:
        """The repositories a new backup's copies go to, copy 0 first."""
        return tuple(self._repositories.values())[: self.copies]

    def holding(self, chat_id: str) -> Repository | None:
        """The repository one of whose chats is `chat_id`, or None."""
        return next((repo for repo in self if chat_id in repo.chat_ids), None)

    def names(self) -> list[str]:
        return list(self._repositories)

    def __iter__(self) -> Iterator[Repository]:
        return iter(self._repositories.values())

    def __len__(self) -> int:
        return len(self._repositories)

    def _check_disjoint(self) -> None:
        # Two repositories sharing a bot or a chat fail together: two copies there are one.
        seen: dict[str, str] = {}
        for repo in self:
            for kind, key in [("chat", c) for c in repo.chat_ids] + [
                ("bot", b) for b in repo.bot_ids
            ]:
                other = seen.setdefault(f"{kind} {key}", repo.name)
                if other != repo.name:
                    raise errors.ConfigError(
                        f"repositories {other} and {repo.name} share {kind} {key}: a repository "
                        "must fail alone, so each bot and chat belongs to one repository"
                    )


def read_file(path: Path) -> dict[str, Repository]:
    """The repositories of TELEGRAM_REPOSITORIES_FILE; ConfigError naming file, table and key."""
    tables = registry_file.read(path, _FILE)
    return {name: _repository(path, name, table) for name, table in tables.items()}


def _repository(path: Path, name: str, table: dict[str, object]) -> Repository:
    where = f"{path}: [repositories.{name}]"
    chats = table.get("chat_ids")
    if not isinstance(chats, list) or not chats:
        raise errors.ConfigError(f'{where} chat_ids: missing; e.g. chat_ids = ["-1001234567890"]')
    try:
        chat_ids = tuple(syntax.chat_id(str(chat)) for chat in chats)
    except ValueError as exc:
        raise errors.ConfigError(f"{where} chat_ids: {exc}") from None
    thread = table.get("thread_id")
    if thread is not None and (isinstance(thread, bool) or not isinstance(thread, int)):
        raise errors.ConfigError(f"{where} thread_id: must be an integer")
    return Repository(name, _read_tokens(where, table.get("bot_token_file")), chat_ids, thread)


def _read_tokens(where: str, token_file: object) -> tuple[SecretStr, ...]:
    if not isinstance(token_file, str) or not token_file:
        raise errors.ConfigError(f"{where} bot_token_file: missing; the file holding its tokens")
    try:
        text = Path(token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise errors.ConfigError(
            f"{where} bot_token_file: cannot read {token_file}: {reason or type(exc).__name__}"
        ) from None
    try:
        tokens = syntax.bot_tokens(text)
    except ValueError as exc:  # syntax.bot_tokens never quotes a token
        raise errors.ConfigError(f"{where} bot_token_file: {token_file}: {exc}") from None
    return tuple(SecretStr(token) for token in tokens.split(","))
