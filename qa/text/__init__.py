"""Text primitives used by more than one layer: words and stopwords, sentence splitting,
token counting and citation markers."""
