"""Answering backends: the Protocol (base), the name registry, and the implementations
(offline: the extractive engine; llm: any OpenAI-compatible endpoint)."""
