"""Rebuild ``tiny-bpe/tokenizer.json``: a small byte-level BPE tokenizer for the tests.

Trained with the Hugging Face ``tokenizers`` library on this repository's README and the
synthetic workloads' word list, so it is deterministic, offline and ~40 KB. It is a real
tokenizer file (``hf:tests/data/tiny-bpe``), not a model's: token counts differ from any
production tokenizer, which is what the tests need (counts that are not word counts).

    python tests/data/make_tiny_tokenizer.py
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def main() -> None:
    from llmeter_core.synthetic import WORDS

    texts = [(ROOT / "README.md").read_text(), " ".join(WORDS)] * 2
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    out = HERE / "tiny-bpe" / "tokenizer.json"
    out.parent.mkdir(exist_ok=True)
    tokenizer.save(str(out), pretty=False)
    print(f"{out}: vocab {tokenizer.get_vocab_size()}, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
