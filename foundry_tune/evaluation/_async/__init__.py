"""The evaluation runner (``evaluate()``, its completer protocol and [`FoundryCompleter`][FoundryCompleter]),
written once: ``foundry_tune/evaluation/_async`` is the source, ``foundry_tune/evaluation/_sync`` is
generated from it by ``scripts/unasync.py``."""
