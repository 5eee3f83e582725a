"""The shapes of what predict, plan, Engine.bench and Engine.perplexity return: plain dicts
(the JSON of ``alisa plan --json`` and ``alisa bench``), typed here for editors and checkers."""

from typing import Any, Dict, List, TypedDict

from ._alisa import Policy


class ResourceBusy(TypedDict):
    per_layer_s: float  # prefill: one layer; decode: one layer, averaged over the steps
    total_s: float  # over the phase (every layer, every step)


class TierBytes(TypedDict):
    weights: int
    cache: int
    activations: int
    workspace: int
    total: int


class MemoryTiers(TypedDict):
    gpu: TierBytes
    cpu: TierBytes
    disk: TierBytes


class Prediction(TypedDict):
    prefill_s: float
    decode_s: float
    total_throughput: float  # tokens/s: block * gen_len / (prefill_s + decode_s)
    decode_throughput: float  # block * (gen_len - 1) / decode_s
    bottleneck: str  # the resource that bounds most of the decode time
    bottleneck_share: float
    prefill: Dict[str, ResourceBusy]  # every resource's busy time ("gpu", "pcie_h2d", ...)
    decode: Dict[str, ResourceBusy]
    memory: MemoryTiers  # peak bytes per tier
    weight_read_stall_s: float  # waits for disk weight reads (not in alisa plan --json)


class Stage(TypedDict):
    name: str  # "prefill", "decode", "head"
    decode: bool
    count: float  # how many times it repeats (layers x steps)
    seconds: float  # one repeat: the largest of its resources'
    resources: Dict[str, float]  # every resource's seconds in one repeat


class PlanResult(TypedDict):
    policy: Policy
    policy_yaml: str  # what alisa plan prints (the policy, a header of predictions and limits)
    prediction: Prediction
    limits: List[str]  # what bounds the time, which caps are full, why the block is not larger
    candidates: int  # discrete choices the solver priced (0 for predict)
    stages: List[Stage]  # the cost model's stages at the policy's placement


class PerplexityResult(TypedDict):
    perplexity: float
    mean_nll: float
    n_tokens: int
    n_windows: int
    context_length: int
    stride: int


# alisa bench's JSON object (docs/OFFLOADING.md): prefill_latency_s, decode_latency_s,
# decode_step_ms, total_throughput, decode_throughput, peak_memory_bytes, schedule, ...
BenchReport = Dict[str, Any]
