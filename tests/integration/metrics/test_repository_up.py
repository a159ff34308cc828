"""backup_worker_repository_up: a repository whose bot is revoked or whose chat is deleted on
the stand-in scrapes as 0; one that cannot be reached keeps its last verdict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from db import session
from standin.server import BotApiStandin
from worker.metrics import exporter
from worker.metrics import repositories as probing
from worker.telegram import repositories

REPOS = {
    "default": ("780001:UP-default-secret-ABCdefGHIjklMNOpqrSTUvw", -1007800000001),
    "alpha": ("790002:UP-alpha-secret-ZYXwvuTSRqpoNMLkjiHGFedcb", -1007900000002),
    "beta": ("800003:UP-beta-secret-QWErtyUIOpasDFGhjkLZXcvbnm", -1008000000003),
}


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    tokens = [token for token, _ in REPOS.values()]
    chats = [chat for _, chat in REPOS.values()]
    with BotApiStandin(tokens=tokens, chats=chats, data_dir=tmp_path / "standin") as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scraped(database: session.Database, probe: probing.Probe) -> dict[str, float]:
    body = generate_latest(exporter.registry(database, None, probe=probe)).decode()
    return {
        sample.labels["repository"]: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "backup_worker_repository_up"
    }


def test_a_revoked_bot_and_a_deleted_chat_each_take_their_repository_down(
    database: session.Database, standin: BotApiStandin
) -> None:
    repos = repositories.Repositories(
        {
            name: repositories.Repository(name, (SecretStr(token),), (str(chat),))
            for name, (token, chat) in REPOS.items()
        }
    )
    clock = Clock()
    probe = probing.Probe(repos, probing.connector(standin.url, timeout=2), every=60, clock=clock)
    assert scraped(database, probe) == {"default": 1, "alpha": 1, "beta": 1}

    standin.revoke(REPOS["alpha"][0])
    standin.delete_chat(REPOS["beta"][1])
    calls = len(standin.requests())
    assert scraped(database, probe) == {"default": 1, "alpha": 1, "beta": 1}  # not probed yet
    assert len(standin.requests()) == calls
    clock.now = 60
    assert scraped(database, probe) == {"default": 1, "alpha": 0, "beta": 0}

    standin.reinstate(REPOS["alpha"][0])
    clock.now = 120
    assert scraped(database, probe) == {"default": 1, "alpha": 1, "beta": 0}


def test_a_repository_that_cannot_be_reached_keeps_its_last_verdict(
    database: session.Database, standin: BotApiStandin
) -> None:
    token, chat = REPOS["alpha"]
    repos = repositories.Repositories(
        {"alpha": repositories.Repository("alpha", (SecretStr(token),), (str(chat),))}
    )
    clock = Clock()
    url = standin.url
    probe = probing.Probe(repos, probing.connector(url, timeout=2), every=60, clock=clock)
    standin.revoke(token)
    assert scraped(database, probe) == {"alpha": 0}
    standin.stop()  # nothing answers: a network error says nothing about the repository
    clock.now = 60
    assert scraped(database, probe) == {"alpha": 0}
    never = probing.Probe(repos, probing.connector(url, timeout=2), every=60, clock=clock)
    assert scraped(database, never) == {}


def probed_names(database: session.Database, tmp_path: Path) -> set[str]:
    """The sample names of a scrape whose exporter probes one repository on a stand-in."""
    token, chat = REPOS["default"]
    with BotApiStandin(tokens=[token], chats=[chat], data_dir=tmp_path / "probed") as standin:
        repos = repositories.Repositories(
            {"default": repositories.Repository("default", (SecretStr(token),), (str(chat),))}
        )
        probe = probing.Probe(repos, probing.connector(standin.url, timeout=2))
        body = generate_latest(exporter.registry(database, None, probe=probe)).decode()
    return {s.name for family in text_string_to_metric_families(body) for s in family.samples}
