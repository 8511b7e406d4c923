"""The LLM backend: prompts, the official openai client, reply parsing and checks."""
