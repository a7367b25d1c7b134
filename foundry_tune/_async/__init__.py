"""The network layer, written once: the async source every network step is written in.

``foundry_tune._sync`` is generated from these modules by ``scripts/unasync.py`` (never edit it by
hand); ``_flavour.py`` is the one hand-written module per flavour. The public names are re-exported
by ``foundry_tune.aio`` (async) and ``foundry_tune.client`` / ``job`` / ``deployment`` / ``sweep``.
"""
