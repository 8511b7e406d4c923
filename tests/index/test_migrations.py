"""Schema upgrades: a store made by the previous version is brought up in place, once."""

from __future__ import annotations

import sqlite3

from qa.api import ask
from qa.config import Settings
from qa.index import migrations
from qa.index.store import Store
from qa.ingestion.pipeline import ingest
from tests.helpers import SEED

TEAM = ("server_state", "server_log", "server_revisions")


def tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_schema_3_store_gains_the_team_tables_and_keeps_its_documents(
    settings: Settings,
) -> None:
    ingest([SEED], settings=settings)
    before = ask("Who met Putin in Moscow?", settings=settings)
    path = settings.home / "qa.sqlite3"
    # What version 3 wrote: no team tables.
    db = sqlite3.connect(path)
    for table in TEAM:
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()

    store = Store.open(settings)
    assert migrations.version(store.db) == migrations.SCHEMA_VERSION == 6
    assert set(TEAM) <= tables(store.db)
    assert store.count_chunks() > 0
    store.close()
    after = ask("Who met Putin in Moscow?", settings=settings)
    assert after.text == before.text


def test_upgrading_is_idempotent(tmp_path: object) -> None:
    db = sqlite3.connect(":memory:")
    migrations.upgrade(db)
    db.execute("PRAGMA user_version = 3")
    migrations.upgrade(db)
    migrations.upgrade(db)
    assert migrations.version(db) == migrations.SCHEMA_VERSION
    assert set(TEAM) <= tables(db)
