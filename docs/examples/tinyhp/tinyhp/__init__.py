"""TinyHP: a small scale-hyperprior image codec, plugged into rdbench through an entry point.

``tinyhp.model`` is the network (plain PyTorch and CompressAI, no rdbench), ``tinyhp.codec`` the
rdbench adapter. rdbench imports the adapter to list codecs, so it imports torch and compressai
only when a model is built.
"""
