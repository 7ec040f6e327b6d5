"""Runs several of the worker scripts here, one after the other, in the same processes.

``python -m torch.distributed.run ... workers.py OUT NAME [NAME ...]`` runs each named module's
``main(OUT/NAME)`` in turn, in one process group (the first sets it up, the others find it: a
group set up again in the same process after ``destroy_process_group`` hung there when torchrun
was started from pytest with its output captured), so that one torchrun launch, and one import of
torch per process, serves several tests.
"""

import importlib
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    out, names = sys.argv[1], sys.argv[2:]
    for name in names:
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        importlib.import_module(name).main(folder)
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
