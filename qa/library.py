"""Small library calls over the store: list, show and forget documents."""

from __future__ import annotations

from qa.config import Settings
from qa.store import Store
from qa.types import Document, DocumentInfo


def list_documents(*, settings: Settings | None = None) -> list[DocumentInfo]:
    with Store.using(None, settings) as store:
        return store.list_documents()


def show(doc: str, *, settings: Settings | None = None) -> Document:
    with Store.using(None, settings) as store, store.snapshot():
        return store.get_document(store.resolve_doc_id(doc))


def forget(doc: str | None = None, *, settings: Settings | None = None) -> list[str]:
    """Remove one document (by id or prefix), or the whole collection when ``doc`` is None."""
    with Store.using(None, settings) as store, store.writing():
        if doc is None:
            removed = store.doc_ids()
            store.drop_collection()
            return removed
        doc_id = store.resolve_doc_id(doc)
        store.remove_document(doc_id)
        return [doc_id]
