"""Checks of the source servers (SOURCE_SERVERS_FILE, SOURCE_DATABASE_URL): each reachable,
with a pg_dump and a pg_restore new enough for it, and connecting as no superuser."""

from __future__ import annotations

import dataclasses
import functools

from worker import errors, settings
from worker.cli.preflight import Group, Verdict, fail, ok, warn
from worker.postgres import clients, privileges, servers, source

ROLES = "run the worker as a least-privilege role: `backup-worker roles sql` prints its SQL"


def groups(config: settings.Settings, only: str | None, timeout: float) -> list[Group]:
    """One group per server (only `only` when given); InputError for an unknown `only`, a
    single fail line when the registry itself cannot be loaded."""
    try:
        registry = servers.Registry.load(config)
    except errors.ConfigError as exc:
        message = exc.message
        return [Group("servers", lambda: [fail("servers", message)])]
    chosen = [registry.get(only)] if only is not None else list(registry)
    found = [Group(f"server {one.name}", functools.partial(check, one, timeout)) for one in chosen]
    drill = config.drill_server
    if drill is not None and drill not in registry.names() and only is None:
        known = ", ".join(registry.names())
        message = f"DRILL_SERVER={drill} is not a registered server (known: {known})"
        found.append(Group("drill server", lambda: [fail("drill server", message)]))
    return found


def with_timeout(params: source.SourceParams, timeout: float) -> source.SourceParams:
    """`params` connecting within `timeout` seconds (libpq's minimum is 2), or sooner if the
    URL says so."""
    options = dict(params.options)
    own = options.get("connect_timeout")
    wanted = max(2, round(timeout))
    if own is None or not own.isdigit() or int(own) <= 0 or int(own) > wanted:
        options["connect_timeout"] = str(wanted)
    return dataclasses.replace(params, options=tuple(sorted(options.items())))


def check(server: servers.Server, timeout: float) -> list[Verdict]:
    """The server answers; pg_dump and pg_restore fit its version; its role is no superuser."""
    name = f"server {server.name}"
    try:
        params = with_timeout(server.params(), timeout)
    except errors.ConfigError as exc:
        return [fail(name, exc.message)]
    try:
        version_num = source.server_version_num(params)
    except errors.DumpError as exc:
        return [fail(name, exc.message)]
    major = ".".join(map(str, clients.server_major(version_num)))
    verdicts = [ok(name, f"PostgreSQL {major} at {params.location}")]
    for tool in clients.TOOLS:
        verdicts.append(program(f"{name}: {tool}", tool, version_num))
    verdicts.append(superuser(f"{name}: role", privileges.superuser_name(params), params))
    return verdicts


def program(label: str, tool: str, version_num: int) -> Verdict:
    """The `tool` the worker would run against a server at `version_num`, or what to install."""
    try:
        client = clients.choose(tool, version_num)
    except (errors.DumpError, errors.RestoreError) as exc:
        return fail(label, exc.message)
    return ok(label, f"{client.tool} {client.version} ({client.path})")


def superuser(label: str, user: str | None, params: source.SourceParams) -> Verdict:
    """warn when the URL's role (`user`, None: not a superuser) is a superuser."""
    if user is None:
        return ok(label, f"the role of {params.origin} is no superuser")
    return warn(label, f"{params.origin} connects as the superuser {user}", ROLES)
