"""Engine against the CLI on the demo model: generate, perplexity; forward and bench."""

import json

import alisa
import numpy as np
import pytest
from conftest import DEMO_MODEL, PROMPTS

NEW_TOKENS = 12


@pytest.fixture(scope="module")
def engine():
    return alisa.Engine(DEMO_MODEL, device="cpu", threads=1)


def test_generate_equals_cli(cli, engine, tmp_path):
    out = tmp_path / "out.jsonl"
    status, _, err = cli("generate", "--model", DEMO_MODEL, "--prompts", PROMPTS, "--output", out,
                         "--device", "cpu", "--threads", 1, "--max-new-tokens", NEW_TOKENS)
    assert status == 0, err
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    lines = [json.loads(line) for line in PROMPTS.read_text().splitlines()]
    prompts = [line["prompt"] for line in lines]
    tokens = engine.generate(prompts, max_new_tokens=NEW_TOKENS, batch_size=4)
    assert len(tokens) == len(lines)
    for line, ids in zip(lines, tokens):
        assert ids == records[line["id"]]["token_ids"]
        assert engine.decode(ids) == records[line["id"]]["text"]
    # Token ids give the same as the text they encode.
    assert engine.generate([engine.tokenize(p) for p in prompts],
                           max_new_tokens=NEW_TOKENS, batch_size=4) == tokens


def test_perplexity_equals_cli(cli_json, engine, tmp_path):
    text = (DEMO_MODEL / "heldout.txt").read_text()[:6000]
    path = tmp_path / "text.txt"
    path.write_text(text)
    expected = cli_json("perplexity", "--model", DEMO_MODEL, "--text", path, "--device", "cpu",
                        "--threads", 1, "--context-length", 256)
    result = engine.perplexity(text, context_length=256)
    for key in ("perplexity", "mean_nll", "n_tokens", "n_windows", "context_length", "stride"):
        assert result[key] == expected[key], key
    assert engine.perplexity(engine.tokenize(text, add_special_tokens=False),
                             context_length=256) == result


def test_forward_logits_are_numpy_and_agree_with_greedy_generation(engine):
    prompts = [engine.tokenize("def add(a, b):"), engine.tokenize("import os")]
    logits = engine.forward(prompts)
    assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
    longest = max(map(len, prompts))
    assert logits.shape == (2, longest, engine.spec.vocab_size)
    first = engine.generate(prompts, max_new_tokens=1)
    assert [int(np.argmax(row[-1])) for row in logits] == [ids[0] for ids in first]


def test_bench_reports_a_run():
    engine = alisa.Engine("dummy:opt-125m", device="cpu", threads=1,
                          policy={"gpu_batch_size": 2, "num_gpu_batches": 2})
    report = engine.bench(prompt_len=8, gen_len=4, warmup=False)
    assert report["batch_size"] == 4  # the policy's block
    assert report["total_throughput"] > 0 and report["decode_latency_s"] > 0
    assert report["model"] == "dummy:opt-125m"


def test_model_spec_and_hardware():
    spec = alisa.load_model("dummy:opt-6.7b")
    assert (spec.n_layers, spec.hidden_size, spec.family) == (32, 4096, "opt")
    assert "opt-125m" in alisa.model_names()
    from conftest import HARDWARE
    hw = alisa.load_hardware(HARDWARE)
    assert hw.gpu_memory_bytes > 0 and hw.path == str(HARDWARE)
