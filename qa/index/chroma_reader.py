"""Nearest-neighbour queries on an embedded Chroma collection without Chroma's Python client.

``import chromadb`` takes about half a second (telemetry, pydantic settings, an HTTP
client and some thirty embedding-function modules), most of a cold ``qa ask``, which
needs one query.  Chroma answers queries in its Rust core; the chromadb wheel ships that
core as ``chromadb_rust_bindings`` (0.02 s to import), and its Python client is a thin
shim over it (``chromadb/api/rust.py``).  :class:`LocalReader` opens the same core the
way that shim does, with migrations validated, never applied, and calls its ``query``.

It is used only with the chromadb versions it was checked against (``SUPPORTED``;
``tests/index/test_chroma_reader.py`` compares its results with the client's), only for
reading, and anything unexpected (another version, a store that needs a migration, a
missing collection) makes :func:`open_reader` return None: the store then uses the full
client, which says what is wrong.
"""

from __future__ import annotations

import json
import logging
from importlib import metadata
from pathlib import Path
from typing import Any

# chromadb releases whose Rust bindings this module was checked against (pyproject: >=1.5,<2).
SUPPORTED = ((1, 5), (2, 0))
# The tenant and database every embedded client uses (chromadb.config DEFAULT_*).
TENANT = "default_tenant"
DATABASE = "default_database"

log = logging.getLogger("qa")


def _supported() -> bool:
    try:
        parts = metadata.version("chromadb").split(".")
        version = (int(parts[0]), int(parts[1]))
    except (metadata.PackageNotFoundError, ValueError, IndexError):
        return False
    low, high = SUPPORTED
    return low <= version < high


def _hnsw_cache_size() -> int:
    # As the client sets it: each cached HNSW index holds up to 5 open files.
    try:
        import resource

        return max(1, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 5)
    except (ImportError, OSError, ValueError):
        return 100


class LocalReader:
    """One collection of a ``PersistentClient`` folder, opened read-only through the Rust core."""

    def __init__(self, folder: Path, name: str) -> None:
        import chromadb_rust_bindings as rust

        config = rust.SqliteDBConfig(
            hash_type=rust.MigrationHash.MD5,
            migration_mode=rust.MigrationMode.Validate,
            url=str(folder / "chroma.sqlite3"),
        )
        self._bindings: Any = rust.Bindings(
            allow_reset=False,
            sqlite_db_config=config,
            persist_path=str(folder),
            hnsw_cache_size=_hnsw_cache_size(),
        )
        collection = self._bindings.get_collection(name, TENANT, DATABASE)
        self.id = str(collection.id)
        self.metadata: dict[str, Any] = dict(collection.metadata or {})

    def query(
        self, vector: list[float], n_results: int, where: dict[str, Any] | None
    ) -> tuple[list[str], list[float]]:
        """The ids of the ``n_results`` nearest vectors (matching ``where``) and their
        distances, nearest first."""
        result = self._bindings.query(
            self.id,
            None,
            [vector],
            n_results,
            json.dumps(where) if where else None,
            None,
            ["distances"],
            TENANT,
            DATABASE,
        )
        ids = list(result.ids[0]) if result.ids else []
        distances = list(result.distances[0]) if result.distances else []
        return ids, [float(distance) for distance in distances]

    def count(self) -> int:
        return int(self._bindings.count(self.id, TENANT, DATABASE))


def open_reader(folder: Path, name: str) -> LocalReader | None:
    """A reader for collection ``name`` in ``folder``, or None where the client must decide."""
    if not (folder / "chroma.sqlite3").is_file() or not _supported():
        return None
    try:
        return LocalReader(folder, name)
    except Exception as error:  # Any surprise: the full client opens it and says what is wrong.
        log.debug("fast Chroma reader not used for %s: %s", folder, error)
        return None
