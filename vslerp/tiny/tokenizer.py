"""A real ``transformers.CLIPTokenizer`` with a tiny byte-level BPE vocabulary, built offline.

The vocabulary follows CLIP's layout at a small scale: the 256 byte-level symbols (GPT-2's
byte-to-unicode table), the same symbols with the end-of-word suffix ``</w>``, the results of a
handful of merges, then ``<|startoftext|>`` and ``<|endoftext|>`` (the latter is also the pad and
unknown token, as in OpenAI's CLIP tokenizer). Every byte has a token, so any Unicode text
(emoji, control characters, markup, the empty string) tokenizes without unknown pieces.

``vocab.json`` and ``merges.txt`` are written to a temporary directory and loaded with
``CLIPTokenizer.from_pretrained``: one code path that works with the slow tokenizer of
transformers 4.x and the tokenizers-backed one of transformers 5.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from transformers import CLIPTokenizer, PreTrainedTokenizerBase

from vslerp.errors import InputError
from vslerp.fileio import write_json_atomic, write_text_atomic

__all__ = [
    "BOS_TOKEN",
    "EOS_TOKEN",
    "TINY_MERGES",
    "TINY_TEXT_LENGTH",
    "build_tiny_tokenizer",
    "byte_symbols",
    "save_tiny_tokenizer",
    "tiny_vocab",
    "write_vocab_files",
]

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
#: Text length of the tiny text encoders (CLIP's 77), in tokens including BOS and EOS.
TINY_TEXT_LENGTH = 77
#: A few English merges so the BPE merge path is exercised ("the" becomes one token).
TINY_MERGES: tuple[tuple[str, str], ...] = (
    ("t", "h"),
    ("th", "e</w>"),
    ("a", "n"),
    ("i", "n"),
    ("o", "n</w>"),
    ("e", "r</w>"),
    ("e", "d</w>"),
    ("a", "t</w>"),
)


def byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values, in byte order (256 distinct
    one-character strings)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def tiny_vocab() -> dict[str, int]:
    """The tiny vocabulary: token -> id. Ids: 0-255 bytes, 256-511 bytes + ``</w>``, then the
    merge results in :data:`TINY_MERGES` order, then BOS, then EOS (the largest id)."""
    symbols = byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *(a + b for a, b in TINY_MERGES),
              BOS_TOKEN, EOS_TOKEN]
    return {token: i for i, token in enumerate(tokens)}


def write_vocab_files(folder: str | os.PathLike[str]) -> Path:
    """Write the tiny vocabulary as ``vocab.json`` and ``merges.txt`` (CLIP's file formats,
    which the slow tokenizer of transformers 4.x needs) into ``folder``; returns the folder."""
    target = Path(folder)
    write_json_atomic(target / "vocab.json", tiny_vocab())
    merges = "".join(f"{a} {b}\n" for a, b in TINY_MERGES)
    write_text_atomic(target / "merges.txt", "#version: 0.2\n" + merges)
    return target


def save_tiny_tokenizer(tokenizer: PreTrainedTokenizerBase, folder: str | os.PathLike[str]) -> Path:
    """``tokenizer.save_pretrained(folder)`` plus :func:`write_vocab_files`, so the folder
    loads with both the slow (transformers 4.x) and the fast/tokenizers-backed ``CLIPTokenizer``.

    Raises:
        InputError: ``tokenizer`` does not hold the tiny vocabulary.
    """
    if not isinstance(tokenizer, PreTrainedTokenizerBase) or tokenizer.get_vocab() != tiny_vocab():
        raise InputError("tokenizer", tokenizer, "expected a tokenizer built by "
                                                 "build_tiny_tokenizer()")
    tokenizer.save_pretrained(str(folder))
    return write_vocab_files(folder)


def build_tiny_tokenizer(model_max_length: int = TINY_TEXT_LENGTH) -> CLIPTokenizer:
    """A ``CLIPTokenizer`` over :func:`tiny_vocab` that pads and truncates to
    ``model_max_length`` tokens (``2 <= model_max_length <= 4096``).

    ``len(tokenizer) == len(tiny_vocab())``; pad, unk and EOS are ``<|endoftext|>``.
    """
    if (isinstance(model_max_length, bool) or not isinstance(model_max_length, int)
            or not 2 <= model_max_length <= 4096):
        raise InputError("model_max_length", model_max_length, "expected an int in [2, 4096]")
    with tempfile.TemporaryDirectory(prefix="vslerp-tiny-tokenizer-") as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(
            str(write_vocab_files(tmp)),
            model_max_length=model_max_length,
            bos_token=BOS_TOKEN,
            eos_token=EOS_TOKEN,
            unk_token=EOS_TOKEN,
            pad_token=EOS_TOKEN,
        )
    tokenizer.name_or_path = "vslerp-tiny-clip"
    return tokenizer
