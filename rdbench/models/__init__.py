"""Stage 1, models: MLIC, MLIC+ and MLIC++ as plain ``torch.nn.Module``s (trainable ``forward``,
``compress``/``decompress`` with compressai's entropy coder). No file or dataset I/O here.

May import: torch, compressai and :mod:`rdbench.errors`. Adapters in
:mod:`rdbench.codecs.learned` wrap these models as codecs.
"""
