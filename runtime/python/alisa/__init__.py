"""alisa from Python: model specs, hardware profiles, policies, the cost model and solver
(``predict``, ``plan``, ``place``) and the ``Engine`` (``generate``, ``bench``, ``perplexity``,
``forward``).

Every error alisa reports is an ``alisa.Error`` carrying alisa's one-line message (the text
``alisa: error:`` is followed by on the command line). docs/PYTHON.md has the set-up and examples.
"""

from ._alisa import (
    Engine,
    Error,
    Hardware,
    ModelSpec,
    Policy,
    load_hardware,
    load_model,
    model_names,
    place,
    plan,
    predict,
)
from .results import (
    BenchReport,
    MemoryTiers,
    PerplexityResult,
    PlanResult,
    Prediction,
    ResourceBusy,
    Stage,
    TierBytes,
)

__all__ = [
    "BenchReport",
    "Engine",
    "Error",
    "Hardware",
    "MemoryTiers",
    "ModelSpec",
    "PerplexityResult",
    "PlanResult",
    "Policy",
    "Prediction",
    "ResourceBusy",
    "Stage",
    "TierBytes",
    "load_hardware",
    "load_model",
    "model_names",
    "place",
    "plan",
    "predict",
]
