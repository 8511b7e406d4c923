"""The offline backend: extractive answers and summaries, no model download, no network."""
