"""alisa's errors become alisa.Error carrying the same one-line message the CLI prints."""

import alisa
import pytest
from conftest import DEMO_MODEL, HARDWARE


def cli_message(cli, *args):
    status, _, err = cli(*args)
    assert status == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("alisa: error: ")
    return lines[-1][len("alisa: error: "):]


def test_unknown_model_is_the_cli_message(cli):
    expected = cli_message(cli, "plan", "--model", "dummy:opt-7b", "--hardware", HARDWARE,
                           "--workload", "prompt_len=8,gen_len=8")
    with pytest.raises(alisa.Error) as caught:
        alisa.plan("dummy:opt-7b", HARDWARE, prompt_len=8, gen_len=8)
    assert str(caught.value) == expected
    with pytest.raises(alisa.Error, match="opt-7b"):
        alisa.Engine("dummy:opt-7b", device="cpu")


def test_workload_longer_than_the_model_is_the_cli_message(cli):
    expected = cli_message(cli, "plan", "--model", "dummy:opt-125m", "--hardware", HARDWARE,
                           "--workload", "prompt_len=2000,gen_len=100")
    with pytest.raises(alisa.Error) as caught:
        alisa.plan("dummy:opt-125m", HARDWARE, prompt_len=2000, gen_len=100)
    assert str(caught.value) == expected


def test_bad_policies_and_options():
    with pytest.raises(alisa.Error, match="gpu_batch_sizes"):
        alisa.Policy(gpu_batch_sizes=4)  # unknown key, named
    with pytest.raises(alisa.Error, match="weights_gpu_percent"):
        alisa.Policy(weights_gpu_percent=150)
    with pytest.raises(alisa.Error, match="no_such_policy.yaml"):
        alisa.Policy.load("no_such_policy.yaml")
    with pytest.raises(alisa.Error, match="swa: unknown option 'sparsty'"):
        alisa.plan("dummy:opt-125m", HARDWARE, prompt_len=8, gen_len=8, swa={"sparsty": 0.5})
    with pytest.raises(alisa.Error, match="gpu_memory_limit"):
        alisa.plan("dummy:opt-125m", HARDWARE, prompt_len=8, gen_len=8, gpu_memory_limit="lots")
    with pytest.raises(alisa.Error, match="device"):
        alisa.Engine("dummy:opt-125m", device="tpu")


def test_bad_prompts():
    engine = alisa.Engine(DEMO_MODEL, device="cpu", threads=1)
    with pytest.raises(alisa.Error, match="outside the model's vocabulary"):
        engine.generate([[1, 2, 99999]], max_new_tokens=2)
    with pytest.raises(alisa.Error, match="is empty"):
        engine.generate([[]], max_new_tokens=2)
    with pytest.raises(alisa.Error, match="temperature"):
        engine.generate(["x"], temperature=-1)
    with pytest.raises(alisa.Error, match="tokenizer"):
        alisa.Engine("dummy:opt-125m", device="cpu").tokenize("no tokenizer here")


def test_error_is_an_exception_class():
    assert issubclass(alisa.Error, Exception)
