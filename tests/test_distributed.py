"""Distributed training: 2 processes under DDP (gloo, loopback) match one process on the same
global batch to 1e-6. Runs ``examples/train_distributed.py`` with torchrun, as a user would."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train_distributed.py"

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo"
)


def _script():
    spec = importlib.util.spec_from_file_location("train_distributed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_single_process(tmp_path):
    dtype = "float32"  # what users train in; float64 agrees to ~1e-15
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        str(SCRIPT), "--steps", "4", "--global-batch", "32", "--dtype", dtype, "--out", str(out),
    ]
    run = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]

    ddp = torch.load(out, weights_only=True)
    single = _script().train(steps=4, global_batch=32, dtype=getattr(torch, dtype)).state_dict()
    assert ddp.keys() == single.keys()
    initial = _script().build_model(0, getattr(torch, dtype)).state_dict()
    moved = max((single[k] - initial[k]).abs().max().item() for k in single)
    assert moved > 1e-3  # the run trained: parameters moved
    gap = max((ddp[k] - single[k]).abs().max().item() for k in single)
    print(f"max |DDP - single| = {gap:.2e}")
    assert gap <= 1e-6, gap


def test_the_ddp_wrapper_is_collected_before_the_process_group_is_destroyed(monkeypatch):
    # the DDP wrapper outlives train() in a reference cycle; left to the garbage collector it
    # could be freed during interpreter finalization, which aborted torchrun ranks at exit.
    # With the collector off, only the script's own gc.collect() can free it in time.
    import gc
    import weakref

    module = _script()
    wrappers, alive_at_destroy = [], []

    class Tracked(module.DistributedDataParallel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            wrappers.append(weakref.ref(self))

    destroy = dist.destroy_process_group

    def checked_destroy(*args, **kwargs):
        alive_at_destroy.extend(ref() is not None for ref in wrappers)
        return destroy(*args, **kwargs)

    monkeypatch.setattr(module, "DistributedDataParallel", Tracked)
    monkeypatch.setattr(module.dist, "destroy_process_group", checked_destroy)
    for name, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(_free_port())),
                        ("RANK", "0"), ("WORLD_SIZE", "1"), ("GLOO_SOCKET_IFNAME", "lo")):
        monkeypatch.setenv(name, value)
    enabled = gc.isenabled()
    gc.disable()
    try:
        module.main(["--steps", "2", "--global-batch", "8"])
    finally:
        if enabled:
            gc.enable()
    assert alive_at_destroy == [False]
