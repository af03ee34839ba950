"""Tokenizers: token counting when the API reports no usage, and the lengths of synthetic
prompts.

Any object with ``encode(text) -> sequence`` works as a tokenizer (a Hugging Face or tiktoken
tokenizer, for instance). The default splits on whitespace: crude but offline and free.

Spec and suite files name one with ``tokenizer:`` (``load_tokenizer``), offline only:

- ``whitespace``: the default.
- ``hf:<path>``: a Hugging Face ``tokenizer.json``, or a folder holding one, read with the
  ``tokenizers`` library (no hub download: a missing file is a ConfigError naming it).
- ``tiktoken:<encoding>``: a tiktoken encoding (``cl100k_base``, ``o200k_base``...), which
  needs the optional ``tiktoken`` package *and* the encoding file in tiktoken's cache
  (``TIKTOKEN_CACHE_DIR``): tiktoken downloads encodings on first use, and a load test never
  does, so an encoding that is not cached is a ConfigError rather than a download.

run_config.json records the spec (``describe_tokenizer``), with the file's SHA-256 for
``hf:``, so a run can be rebuilt with the same counts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol, Sequence

from .errors import ConfigError

__all__ = [
    "Tokenizer",
    "WhitespaceTokenizer",
    "HFTokenizer",
    "TiktokenTokenizer",
    "count_tokens",
    "describe_tokenizer",
    "load_tokenizer",
    "check_tokenizer_spec",
]


class Tokenizer(Protocol):
    def encode(self, text: str) -> Sequence[Any]: ...


class WhitespaceTokenizer:
    """Counts whitespace-separated words."""

    spec = "whitespace"

    def encode(self, text: str) -> list[str]:
        return text.split()

    def decode(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)


class HFTokenizer:
    """A Hugging Face ``tokenizer.json`` (``tokenizers`` library): ids, no special tokens."""

    def __init__(self, path: str | Path, field: str = "tokenizer"):
        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            what = f"{path} has no tokenizer.json" if path.is_dir() else f"{path}: no such file"
            raise ConfigError(field, f"{what} (hf: tokenizers are read from local files, never downloaded)")
        try:
            from tokenizers import Tokenizer as _Tokenizer
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise ConfigError(field, f"hf: tokenizers need the 'tokenizers' package: {exc}") from exc
        try:
            self._tokenizer = _Tokenizer.from_file(str(file))
        except Exception as exc:  # the library raises a bare Exception for a bad file
            raise ConfigError(field, f"{file}: not a tokenizer.json file ({exc})") from None
        self.path = file.resolve()
        self.sha256 = hashlib.sha256(file.read_bytes()).hexdigest()
        self.spec = f"hf:{self.path}"

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=True)

    def vocabulary(self) -> dict[str, int]:
        return self._tokenizer.get_vocab()


class TiktokenTokenizer:
    """A tiktoken encoding, loaded only from tiktoken's cache (see the module docstring)."""

    def __init__(self, encoding: str, field: str = "tokenizer"):
        try:
            import tiktoken
            import tiktoken.load as tiktoken_load
        except ImportError:
            raise ConfigError(
                field,
                f"tiktoken:{encoding} needs the optional 'tiktoken' package "
                "(pip install tiktoken), or use hf:<tokenizer.json>",
            ) from None

        def refuse_download(blobpath: str) -> bytes:
            if "://" not in blobpath or blobpath.startswith("file://"):
                return original(blobpath)
            raise ConfigError(
                field,
                f"tiktoken:{encoding} is not in tiktoken's cache (TIKTOKEN_CACHE_DIR) and "
                "encodings are never downloaded during a run: cache it first, or use "
                "hf:<tokenizer.json>",
            )

        original = tiktoken_load.read_file
        tiktoken_load.read_file = refuse_download
        try:
            self._encoding = tiktoken.get_encoding(encoding)
        except ConfigError:
            raise
        except ValueError:
            raise ConfigError(
                field, f"unknown tiktoken encoding {encoding!r} (known: {', '.join(tiktoken.list_encoding_names())})"
            ) from None
        finally:
            tiktoken_load.read_file = original
        self.spec = f"tiktoken:{encoding}"

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode(text, disallowed_special=())

    def decode(self, ids: Sequence[int]) -> str:
        return self._encoding.decode(list(ids))


def check_tokenizer_spec(spec: str, field: str = "tokenizer") -> str:
    """``spec`` if its form is valid (the file itself is checked by ``load_tokenizer``)."""
    if spec == "whitespace":
        return spec
    kind, _, rest = spec.partition(":")
    if kind in ("hf", "tiktoken") and rest.strip():
        return spec
    raise ConfigError(
        field, f"expected whitespace, tiktoken:<encoding> or hf:<path to tokenizer.json or folder>, got {spec!r}"
    )


def load_tokenizer(spec: str | None, base_dir: Path | None = None, field: str = "tokenizer") -> Tokenizer:
    """The tokenizer a spec names; relative ``hf:`` paths are read from ``base_dir``."""
    if spec is None or spec == "whitespace":
        return WhitespaceTokenizer()
    check_tokenizer_spec(spec, field)
    kind, _, rest = spec.partition(":")
    if kind == "hf":
        path = Path(rest).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return HFTokenizer(path, field)
    return TiktokenTokenizer(rest.strip(), field)


def count_tokens(tokenizer: Tokenizer, text: str | None) -> int | None:
    if text is None:
        return None
    return len(tokenizer.encode(text))


def describe_tokenizer(tokenizer: Tokenizer) -> str:
    """A name for run_config.json: the spec of a loaded tokenizer (``hf:`` with the file's
    SHA-256), else the class."""
    spec = getattr(tokenizer, "spec", None)
    if isinstance(spec, str):
        sha = getattr(tokenizer, "sha256", None)
        return f"{spec} (sha256 {sha})" if sha else spec
    cls = type(tokenizer)
    return f"{cls.__module__}.{cls.__qualname__}"
