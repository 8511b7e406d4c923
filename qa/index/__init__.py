"""The index: the store (SQLite for documents, sentences and BM25; Chroma for vectors),
the embedding model, and hybrid retrieval over both."""
