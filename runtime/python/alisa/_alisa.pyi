# Type stubs of the C++ module alisa._alisa (runtime/python/*.cpp): keep them in step with it.
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from .results import BenchReport, PerplexityResult, PlanResult

PathLike = Union[str, "os.PathLike[str]"]
# An int of bytes, or a size such as "14.5GiB"; None: no cap.
ByteSize = Union[int, str, None]
# Sparse Window Attention: sparsity, window_max, granularity ("layer" | "head"),
# score ("window" | "decay" | "history" | "recent"), min_tokens, gamma. None: dense.
SwaSettings = Optional[Dict[str, Union[float, int, str]]]
PolicyValue = Union[bool, int, float, str]
Prompt = Union[str, Sequence[int]]

class Error(Exception):
    """alisa's error: a problem the caller can fix, with alisa's one-line message."""

class ModelSpec:
    @property
    def name(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def n_layers(self) -> int: ...
    @property
    def n_heads(self) -> int: ...
    @property
    def n_kv_heads(self) -> int: ...
    @property
    def head_dim(self) -> int: ...
    @property
    def ffn_dim(self) -> int: ...
    @property
    def max_positions(self) -> int: ...
    @property
    def sliding_window(self) -> int: ...
    @property
    def eos_token_ids(self) -> List[int]: ...
    @property
    def torch_dtype(self) -> str: ...
    @property
    def n_parameters(self) -> int: ...

def load_model(model: PathLike) -> ModelSpec:
    """The architecture of a checkpoint folder or of "dummy:NAME"."""

def model_names() -> List[str]:
    """The names "dummy:NAME" takes."""

class Hardware:
    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def measured(self) -> str: ...
    @property
    def gpu(self) -> str: ...
    @property
    def cpu(self) -> str: ...
    @property
    def gpu_memory_bytes(self) -> int: ...
    @property
    def cpu_memory_bytes(self) -> int: ...
    @property
    def disk_bytes(self) -> int: ...
    @property
    def cpu_cores(self) -> int: ...
    def to_yaml(self) -> str: ...

def load_hardware(path: PathLike) -> Hardware:
    """A profile alisa calibrate wrote (configs/hardware/NAME.yaml)."""

class Policy:
    """A policy YAML's settings, validated; immutable (replace() makes a changed copy)."""

    def __init__(self, **settings: PolicyValue) -> None: ...
    @staticmethod
    def load(path: PathLike) -> Policy: ...
    @staticmethod
    def from_yaml(text: str) -> Policy: ...
    def to_yaml(self) -> str: ...
    def to_dict(self) -> Dict[str, PolicyValue]: ...
    def replace(self, **changes: PolicyValue) -> Policy: ...
    @property
    def gpu_batch_size(self) -> int: ...
    @property
    def num_gpu_batches(self) -> int: ...
    @property
    def block_size(self) -> int: ...
    @property
    def weights_gpu_percent(self) -> float: ...
    @property
    def weights_cpu_percent(self) -> float: ...
    @property
    def cache_gpu_percent(self) -> float: ...
    @property
    def cache_cpu_percent(self) -> float: ...
    @property
    def activations_gpu_percent(self) -> float: ...
    @property
    def activations_cpu_percent(self) -> float: ...
    @property
    def cpu_attention(self) -> bool: ...
    @property
    def pin_weights(self) -> bool: ...
    @property
    def compress_weights(self) -> bool: ...
    @property
    def compress_cache(self) -> bool: ...
    @property
    def cache_recompute_percent(self) -> float: ...
    @property
    def cache_recompute_auto(self) -> bool: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

HardwareArg = Union[PathLike, Hardware]
PolicyArg = Union[Policy, Dict[str, PolicyValue], PathLike]

def predict(
    model: PathLike,
    hardware: HardwareArg,
    policy: PolicyArg,
    *,
    prompt_len: int,
    gen_len: int,
    sequences: int = 0,
    gpu_memory_limit: ByteSize = None,
    cpu_memory_limit: ByteSize = None,
    threads: int = 0,
    swa: SwaSettings = None,
    allow_compression: bool = False,
    dtype: str = "f16",
) -> PlanResult:
    """The cost model's prediction for `policy` (alisa plan --policy FILE --json)."""

def plan(
    model: PathLike,
    hardware: HardwareArg,
    *,
    prompt_len: int,
    gen_len: int,
    sequences: int = 0,
    gpu_memory_limit: ByteSize = None,
    cpu_memory_limit: ByteSize = None,
    threads: int = 0,
    swa: SwaSettings = None,
    allow_compression: bool = False,
    dtype: str = "f16",
) -> PlanResult:
    """The solver's policy for the job (alisa plan --json)."""

def place(
    model: PathLike,
    hardware: HardwareArg,
    choice: PolicyArg,
    *,
    prompt_len: int,
    gen_len: int,
    sequences: int = 0,
    gpu_memory_limit: ByteSize = None,
    cpu_memory_limit: ByteSize = None,
    threads: int = 0,
    swa: SwaSettings = None,
    allow_compression: bool = False,
    dtype: str = "f16",
) -> Optional[PlanResult]:
    """The linear program's placement of `choice`'s discrete part (batch shape, cpu_attention,
    compression, cache_recompute_percent) under the caps, predicted; None when nothing fits."""

class Engine:
    def __init__(
        self,
        model: PathLike,
        *,
        device: str = "auto",
        dtype: str = "auto",
        threads: int = 0,
        gpu_memory_limit: ByteSize = None,
        cpu_memory_limit: ByteSize = None,
        dummy_seed: int = 1234,
        policy: Optional[PolicyArg] = None,
        offload_dir: Optional[PathLike] = None,
        swa: SwaSettings = None,
        tokenizer: Optional[PathLike] = None,
    ) -> None: ...
    @property
    def spec(self) -> ModelSpec: ...
    @property
    def device(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def policy(self) -> Optional[Policy]: ...
    def tokenize(self, text: str, add_special_tokens: bool = True) -> List[int]: ...
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str: ...
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
        batch_size: int = 8,
        stop_at_eos: bool = True,
    ) -> List[List[int]]: ...
    def forward(self, input_ids: Sequence[Prompt]) -> npt.NDArray[np.float32]: ...
    def bench(
        self,
        prompt_len: int = 512,
        gen_len: int = 32,
        *,
        batch_size: Optional[int] = None,
        seed: int = 0,
        warmup: bool = True,
    ) -> BenchReport: ...
    def perplexity(
        self,
        tokens: Prompt,
        *,
        context_length: int = 0,
        stride: int = 0,
        batch_size: int = 0,
    ) -> PerplexityResult: ...

