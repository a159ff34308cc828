"""`backup-worker catalog publish|recover`: the catalog Telegram keeps of every active backup.

publish sends it now (beat's catalog.publish does it every CATALOG_INTERVAL); recover rebuilds
the backups and backup_parts rows of an empty control-plane database from the catalog pinned in
a chat, for when that database is lost. Both need CATALOG_KEY: the catalog is signed with it, and
recover believes only a catalog that authenticates with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from worker import errors
from worker.artifact import keys
from worker.catalog import publish as catalog_publish
from worker.catalog import recover as catalog_recover
from worker.catalog import sign
from worker.cli import common

if TYPE_CHECKING:
    from worker.jobs.runtime import Runtime


@click.group()
def catalog() -> None:
    """The catalog of every backup, pinned in each backup chat."""


@catalog.command("publish")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def publish_command(as_json: bool) -> None:
    """Send and pin the catalog in the backup chat now (when it changed)."""
    rt = common.build_runtime()
    try:
        done = catalog_publish.publish_all(rt)
    finally:
        rt.close()
    if done.get("status") != "ok":
        raise errors.ConfigError(str(done.get("reason")))
    common.emit(done, as_json)


@catalog.command("recover")
@click.option("--chat", "chat_id", required=True, help="the chat whose pinned catalog to read")
@click.option(
    "--channel-post",
    is_flag=True,
    help="accept a head posted as the channel (no sender to check): its signature alone",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def recover_command(chat_id: str, channel_post: bool, as_json: bool) -> None:
    """Rebuild backups and backup_parts in an empty control-plane database from the catalog."""
    rt = common.build_runtime()
    try:
        config = rt.settings
        if not config.catalog_keys:
            raise errors.ConfigError(
                "CATALOG_KEY is not set: recover refuses a catalog it cannot authenticate; "
                "set it to the key (or keys) the catalog was published with"
            )
        identity = config.backup_age_identity_file
        trust = catalog_recover.Trust(
            sign.Keys.of(config.catalog_keys),
            _readers(rt, chat_id),
            config.backup_age_recipients,
            channel_posts=channel_post,
        )
        recovered = catalog_recover.recover(
            rt.telegram,
            rt.database,
            chat_id,
            trust=trust,
            spool_dir=config.backup_spool_dir,
            identities=None if identity is None else keys.load(identity),
        )
    finally:
        rt.close()
    common.emit({"status": "ok", **recovered.to_json()}, as_json)


def _readers(rt: Runtime, chat_id: str) -> tuple[str, ...]:
    """Every bot of ours, the chat's own repository's first: it reads the pinned catalog."""
    bots = list(rt.bots())
    if rt.settings.telegram_repositories_file is not None:
        repos = rt.repositories()
        holder = repos.holding(chat_id)
        bots = [*(holder.bot_ids if holder else ()), *bots]
        bots += [bot for repo in repos for bot in repo.bot_ids]
    return tuple(dict.fromkeys(bots))
