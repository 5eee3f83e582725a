"""predict() and plan() against `alisa plan --json` for the same inputs, and Policy's checks."""

import alisa
import pytest
from conftest import HARDWARE, POLICIES


def as_cli_json(result):
    """What alisa plan --json prints of a PlanResult (the package adds the policy object, the
    stages and the weight-read stall)."""
    out = {k: v for k, v in result.items() if k not in ("policy", "stages")}
    prediction = result["prediction"]
    out["prediction"] = {k: v for k, v in prediction.items() if k != "weight_read_stall_s"}
    return out


JOBS = [
    # model, prompt_len, gen_len, sequences, gpu cap, swa
    ("dummy:opt-6.7b", 512, 32, 0, "14.5GiB", None),
    ("dummy:opt-1.3b", 256, 64, 64, "2GiB", 0.8),  # weights offloaded, SWA, a job size
]


@pytest.mark.parametrize("model,prompt_len,gen_len,sequences,gpu_cap,sparsity", JOBS)
def test_plan_equals_cli(cli_json, model, prompt_len, gen_len, sequences, gpu_cap, sparsity):
    flags = ["plan", "--model", model, "--hardware", HARDWARE, "--json",
             "--workload", f"prompt_len={prompt_len},gen_len={gen_len},sequences={sequences}"]
    if gpu_cap:
        flags += ["--gpu-memory-limit", gpu_cap]
    if sparsity:
        flags += ["--swa-sparsity", sparsity]
    expected = cli_json(*flags)
    result = alisa.plan(model, str(HARDWARE), prompt_len=prompt_len, gen_len=gen_len,
                        sequences=sequences, gpu_memory_limit=gpu_cap,
                        swa={"sparsity": sparsity} if sparsity else None)
    assert as_cli_json(result) == expected
    assert result["candidates"] > 0
    assert result["policy"] == alisa.Policy.from_yaml(result["policy_yaml"])


@pytest.mark.parametrize("policy", ["opt-6.7b-flexgen.yaml", "opt-6.7b-swa-cpu-attention.yaml"])
def test_predict_equals_cli(cli_json, policy):
    path = str(POLICIES / policy)
    sparsity = 0.8 if "swa" in policy else None
    flags = ["plan", "--model", "dummy:opt-6.7b", "--hardware", HARDWARE, "--policy", path,
             "--workload", "prompt_len=512,gen_len=32", "--json"]
    if sparsity:
        flags += ["--swa-sparsity", sparsity]
    expected = cli_json(*flags)
    swa = {"sparsity": sparsity} if sparsity else None
    result = alisa.predict("dummy:opt-6.7b", alisa.load_hardware(HARDWARE), path,
                           prompt_len=512, gen_len=32, swa=swa)
    assert as_cli_json(result) == expected
    # The same policy as an object or a dict predicts the same (only the header's source differs).
    policy_object = alisa.Policy.load(path)
    for given in (policy_object, policy_object.to_dict()):
        other = alisa.predict("dummy:opt-6.7b", HARDWARE, given, prompt_len=512, gen_len=32,
                              swa=swa)
        assert other["prediction"] == result["prediction"]
        assert other["limits"] == result["limits"]


def test_stages_add_up_to_the_prediction():
    result = alisa.predict("dummy:opt-6.7b", HARDWARE, POLICIES / "opt-6.7b-alisa.yaml",
                           prompt_len=512, gen_len=32, swa={"sparsity": 0.8})
    stages = result["stages"]
    assert {s["name"] for s in stages} >= {"prefill", "decode", "head"}
    for stage in stages:
        assert stage["seconds"] == max(stage["resources"].values())
    total = sum(s["count"] * s["seconds"] for s in stages)
    p = result["prediction"]
    # The stages are the linear program's view; the prediction adds only the disk-read stalls.
    assert total == pytest.approx(p["prefill_s"] + p["decode_s"] - p["weight_read_stall_s"],
                                  rel=1e-9)


def test_policy_round_trips_and_replace():
    policy = alisa.Policy.load(POLICIES / "opt-30b-flexgen.yaml")
    assert alisa.Policy.from_yaml(policy.to_yaml()) == policy
    assert alisa.Policy(**policy.to_dict()) == policy
    bigger = policy.replace(num_gpu_batches=policy.num_gpu_batches * 2)
    assert bigger.block_size == 2 * policy.block_size
    assert bigger != policy and bigger.cpu_attention == policy.cpu_attention
    assert alisa.Policy(cache_recompute_percent="auto").cache_recompute_auto
