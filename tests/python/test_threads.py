"""import alisa gives oneDNN's OpenMP team passive waits (kernels_cpu/openmp/passive_waits.h) unless
the environment chose, and leaves the Python program's environment as it found it."""

import os
import subprocess
import sys


def import_alisa(**env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(OMP_DISPLAY_ENV="VERBOSE", **env_changes)
    code = "import os, alisa; print(os.environ.get('OMP_WAIT_POLICY'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


def test_waits_passive_and_environment_untouched():
    seen_by_python, openmp = import_alisa()
    assert "GOMP_SPINCOUNT = '0'" in openmp
    assert seen_by_python == "None"


def test_the_environment_choice_stands():
    seen_by_python, openmp = import_alisa(OMP_WAIT_POLICY="ACTIVE")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in openmp
    assert "GOMP_SPINCOUNT = '0'" not in openmp
    assert seen_by_python == "ACTIVE"
