"""scripts/search_policy.py's smoke test: the whole search on the CPU on a small dummy model (the
solver's plans, the neighbours placed and predicted, SWA admitted by the demo model's perplexity,
a few measured runs), its policy YAML, report and plot."""

import json
import subprocess
import sys

import alisa
from conftest import DEMO_MODEL, HARDWARE, ROOT


def test_search_policy_on_the_cpu(tmp_path):
    out = tmp_path / "search"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "search_policy.py"),
         "--model", "dummy:opt-125m", "--hardware", str(HARDWARE), "--device", "cpu",
         "--threads", "1", "--prompt-len", "16", "--gen-len", "4", "--sequences", "4",
         "--gpu-memory-limit", "300MiB", "--sparsities", "0,0.5",
         "--accuracy-model", str(DEMO_MODEL),
         "--accuracy-text", str(DEMO_MODEL / "heldout.txt"), "--accuracy-tokens", "160",
         "--accuracy-context", "80", "--max-ppl-increase", "0.5", "--measure", "2",
         "--output", str(out / "policy.yaml"), "--plot", str(out / "plot.png"),
         "--report", str(out / "report.json")],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    report = json.loads((out / "report.json").read_text())
    measured = [c for c in report["candidates"] if c["measured"] is not None]
    assert len(measured) >= 3  # the solver's plan(s) and the measured search
    assert len(report["candidates"]) > len(measured)  # more predicted than measured
    assert summary["measured"] >= summary["solver_measured"] > 0
    assert report["admitted_sparsities"][0] == 0
    winner = alisa.Policy.load(out / "policy.yaml")
    assert winner.block_size <= 4
    assert winner.to_dict() == report["winner"]["policy"]
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
