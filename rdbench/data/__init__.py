"""Stage 1, data: dataset manifests (the repository's top-level ``datasets/*.toml``), download and
install with checksums, and loading images as checked 8-bit RGB arrays.

May import: :mod:`rdbench.errors` and :mod:`rdbench.shipped` only. Everything above (codecs, run,
analysis, cli) reads images and datasets through here.
"""
