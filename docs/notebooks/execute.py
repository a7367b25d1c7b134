"""Re-execute the docs' notebooks in place so the site shows fresh outputs.

    python docs/notebooks/execute.py                 # every notebook in this folder
    python docs/notebooks/execute.py sft-end-to-end.ipynb

Each notebook runs top to bottom in a fresh kernel, in a temporary working directory (the files
it writes do not land in the repository), against the local emulator it starts itself. Needs the
``dev`` extra (nbclient, ipykernel) plus ``emulator``, ``pandas`` and ``plot``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path, *, timeout: float = 600.0, write: bool = True) -> nbformat.NotebookNode:
    """Run ``path`` in a fresh kernel; with ``write`` store the outputs back into the file."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="foundry-tune-nb-") as workdir:
        client = NotebookClient(notebook, timeout=int(timeout), kernel_name="python3",
                                resources={"metadata": {"path": workdir}})
        client.execute()
    if write:
        nbformat.write(notebook, path)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files (default: all in docs/notebooks)")
    args = parser.parse_args(argv)
    paths = [Path(p) if Path(p).exists() else HERE / p for p in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        execute(path)
        print(f"  stored outputs in {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
