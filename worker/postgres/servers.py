"""The registry of source servers: SOURCE_SERVERS_FILE (TOML) plus SOURCE_DATABASE_URL as `default`.

The file holds no secret of its own when written as documented (docs/servers.md): each server's
password comes from its `password_file`, read when a connection is made, so a rotated secret is
picked up without a restart. Passwords reach pg_dump/pg_restore through SourceParams.env()
(PGPASSWORD), never a message, a row, a log line or an argument list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from worker import errors, registry_file, settings
from worker.postgres import source

DEFAULT_SERVER = "default"
_FILE = registry_file.Kind(
    setting="SOURCE_SERVERS_FILE",
    key="servers",
    noun="server",
    keys=frozenset({"url", "password_file", "max_dumps"}),
    shape="a table with url = ...",
)


def validate_name(name: object) -> str:
    """A server name as written in a task message or a CLI flag; InputError if malformed."""
    if not isinstance(name, str):
        raise errors.InputError(f"server name must be a string, not {type(name).__name__}")
    if not registry_file.NAME.fullmatch(name):
        shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
        raise errors.InputError(f"invalid server name {shown}: {registry_file.name_rule('server')}")
    return name


@dataclass(frozen=True)
class Server:
    """One source server: where it is, how its password is found, how much load it takes."""

    name: str
    url: str = dataclasses.field(repr=False)  # may carry a password when it is SOURCE_DATABASE_URL
    max_dumps: int
    password_file: Path | None = None
    origin: str = "SOURCE_DATABASE_URL"  # where it was defined, for messages

    def params(self) -> source.SourceParams:
        """libpq parameters, with the password from `password_file` when there is one."""
        origin = self.origin
        if origin != "SOURCE_DATABASE_URL":
            origin = f"[servers.{self.name}] in {origin}"
        parsed = source.SourceParams.from_url(
            self.url, label=self._label("url"), server=self.name, origin=origin
        )
        if self.password_file is None:
            return parsed
        return dataclasses.replace(parsed, password=_read_password(self))

    @property
    def location(self) -> str:
        """host:port for messages."""
        return self.params().location

    def _label(self, key: str) -> str:
        if self.origin == "SOURCE_DATABASE_URL":
            return "SOURCE_DATABASE_URL"
        return f"{self.origin}: [servers.{self.name}] {key}"


class Registry:
    """The known source servers by name; built once at start-up and validated whole."""

    def __init__(self, servers: Mapping[str, Server]) -> None:
        if not servers:
            raise errors.ConfigError("no source server is configured")
        self._servers = dict(sorted(servers.items()))

    @classmethod
    def load(cls, config: settings.Settings) -> Registry:
        """SOURCE_SERVERS_FILE's servers plus `default` from SOURCE_DATABASE_URL; ConfigError.

        `default` from the file wins only when SOURCE_DATABASE_URL is not set; both set is
        refused, since either choice would surprise someone.
        """
        url_set = "source_database_url" in config.model_fields_set
        from_env = Server(
            DEFAULT_SERVER,
            config.source_database_url.get_secret_value(),
            config.source_max_dumps,
        )
        servers: dict[str, Server] = {}
        if config.source_servers_file is not None:
            servers = read_file(config.source_servers_file, config.source_max_dumps)
        if DEFAULT_SERVER in servers and url_set:
            raise errors.ConfigError(
                f"{config.source_servers_file}: [servers.{DEFAULT_SERVER}] and "
                "SOURCE_DATABASE_URL both define the server 'default': remove one of them"
            )
        servers.setdefault(DEFAULT_SERVER, from_env)
        registry = cls(servers)
        registry._validate()
        return registry

    def get(self, name: object) -> Server:
        """The server called `name`; InputError naming the known servers otherwise."""
        known = ", ".join(self._servers)
        if not isinstance(name, str):
            raise errors.InputError(f"server name must be a string, not {type(name).__name__}")
        server = self._servers.get(name)
        if server is None:
            shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
            raise errors.InputError(f"unknown source server {shown}: known servers are {known}")
        return server

    @property
    def default(self) -> Server:
        return self._servers[DEFAULT_SERVER]

    def names(self) -> list[str]:
        return list(self._servers)

    def __iter__(self) -> Iterator[Server]:
        return iter(self._servers.values())

    def __len__(self) -> int:
        return len(self._servers)

    def _validate(self) -> None:
        # Parse every URL and read every password file now, so a typo fails the start-up
        # rather than the first backup of that server hours later.
        for server in self:
            server.params()


def read_file(path: Path, default_max_dumps: int) -> dict[str, Server]:
    """The servers of a registry file; ConfigError naming the file, the server and the key."""
    tables = registry_file.read(path, _FILE)
    return {name: _server(path, name, table, default_max_dumps) for name, table in tables.items()}


def _server(path: Path, name: str, table: dict[str, object], default_max_dumps: int) -> Server:
    where = f"{path}: [servers.{name}]"
    url = table.get("url")
    if not isinstance(url, str) or not url.strip():
        raise errors.ConfigError(f'{where} url: missing; e.g. url = "postgresql://user@host/db"')
    max_dumps = table.get("max_dumps", default_max_dumps)
    # bool is an int in Python; `max_dumps = true` is a typo, not 1.
    if isinstance(max_dumps, bool) or not isinstance(max_dumps, int) or max_dumps < 1:
        raise errors.ConfigError(f"{where} max_dumps: must be a positive integer")
    password_file = table.get("password_file")
    if password_file is not None and (not isinstance(password_file, str) or not password_file):
        raise errors.ConfigError(f"{where} password_file: must be a file path")
    server = Server(
        name,
        url,
        max_dumps,
        Path(password_file) if password_file is not None else None,
        origin=str(path),
    )
    parsed = source.SourceParams.from_url(url, label=f"{where} url")
    if parsed.password is not None and server.password_file is not None:
        raise errors.ConfigError(
            f"{where} url: has a password and password_file is set too: "
            "remove the password from the url"
        )
    return server


def _read_password(server: Server) -> str:
    assert server.password_file is not None
    where = f"{server.origin}: [servers.{server.name}] password_file"
    try:
        text = server.password_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise errors.ConfigError(
            f"{where}: cannot read {server.password_file}: {reason or type(exc).__name__}"
        ) from None
    # One line, as Kubernetes and Docker secrets write it; only the line break is not part of it.
    password = text.removesuffix("\n").removesuffix("\r")
    if not password or "\n" in password:
        raise errors.ConfigError(
            f"{where}: {server.password_file} must hold the password alone on one line"
        )
    return password
