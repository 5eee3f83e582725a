"""Shared fixtures of the Python package's tests: the source tree, the alisa binary (the CLI the
package must agree with) and a way to run it. ctest sets ALISA_BINARY and PYTHONPATH (the
build's python/ folder); run by hand: PYTHONPATH=build/python ALISA_BINARY=build/alisa pytest."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "configs" / "demo-models" / "opt-code"
PROMPTS = ROOT / "configs" / "prompts" / "example.jsonl"
HARDWARE = ROOT / "configs" / "hardware" / "h100-host.yaml"
POLICIES = ROOT / "configs" / "policies"


@pytest.fixture(scope="session")
def alisa_binary() -> Path:
    binary = Path(os.environ.get("ALISA_BINARY", ROOT / "build" / "alisa"))
    assert binary.is_file(), f"no alisa binary at {binary} (set ALISA_BINARY)"
    return binary


@pytest.fixture(scope="session")
def cli(alisa_binary):
    """Runs `alisa ARGS...`; returns (exit status, stdout, stderr)."""

    def run(*args: str):
        done = subprocess.run(
            [str(alisa_binary), *map(str, args)], capture_output=True, text=True, timeout=300
        )
        return done.returncode, done.stdout, done.stderr

    return run


@pytest.fixture(scope="session")
def cli_json(cli):
    """Runs `alisa ARGS...`, which must succeed, and parses its stdout as JSON."""

    def run(*args: str):
        status, out, err = cli(*args)
        assert status == 0, err
        return json.loads(out)

    return run
