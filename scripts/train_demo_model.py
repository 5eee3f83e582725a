#!/usr/bin/env python3
"""Train alisa's small demo model (issue 7): a byte-level BPE tokenizer and a small OPT or LLaMA
causal LM, trained on the Python sources of the machine's installed, permissively licensed
packages; saved as a Hugging Face checkpoint folder (float16) with a README and reference figures
in the format of ../shared/fixtures/opt-tiny (reference.json, reference.safetensors).

Runs offline. Needs torch, transformers, tokenizers, safetensors, numpy. Uses the GPU when there
is one (bf16 autocast), otherwise the CPU (float32, for smoke tests only).

    PYTHONUNBUFFERED=1 python3 scripts/train_demo_model.py --arch opt --out models/demo-opt
    PYTHONUNBUFFERED=1 python3 scripts/train_demo_model.py --arch llama --out models/demo-llama

--minutes bounds the wall-clock time from the start of the script to the end of training
(corpus, tokenizer and tokenisation included); saving and the reference figures take a little more.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path

# Set before torch / tokenizers start: deterministic cuBLAS, parallel tokenizers.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

T_START = time.time()
SCRIPT_DIR = Path(__file__).resolve().parent
TEMPLATE = SCRIPT_DIR / "demo_model_readme.md.in"

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, like the fixtures
BOS_S, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
CONTEXT = 1024

# Prompts of the reference figures (tokenised with add_special_tokens=True: BOS prepended). Kept
# short (about 5-8 tokens) so that reference.safetensors, 4 * (S + gen_len) * vocab float32 values,
# stays near 5 MB.
PROMPTS = [
    "def fib(n):\n",
    "import numpy as np\n",
    "class Node:\n",
    "for i in range(",
]

# Architectures. Sizes keep model.safetensors (float16) under 11.5 MB with an 8192-token vocabulary.
ARCHS = {
    # OPT: learned positions (1024 + OPT's offset 2 rows), pre-LN, ReLU, tied embeddings, biases.
    "opt": dict(hidden_size=256, num_hidden_layers=4, ffn_dim=1024, num_attention_heads=4),
    # LLaMA: RMSNorm, SwiGLU, rotary, grouped-query attention (8 query heads share 2 KV heads),
    # tied embeddings (untied would leave room for only 2 layers under the size limit).
    "llama": dict(hidden_size=256, num_hidden_layers=5, intermediate_size=688,
                  num_attention_heads=8, num_key_value_heads=2, head_dim=32),
}

# ---------------------------------------------------------------------------------------------
# Licences
# ---------------------------------------------------------------------------------------------
# A package is used only if its dist-info METADATA records a licence that is MIT, BSD, Apache-2.0,
# PSF or ISC. In an SPDX "AND" expression (a package bundling components under several licences,
# e.g. numpy, torch) every term must be permissive and at least one must be one of those five;
# Zlib, CC0-1.0 and BSL-1.0 are accepted as such additional terms. "OR": any accepted branch.
CORE_SPDX = {
    "MIT", "MIT-0", "BSD-2-CLAUSE", "BSD-3-CLAUSE", "0BSD", "BSD", "APACHE-2.0", "PSF-2.0",
    "PYTHON-2.0", "PSF", "ISC",
}
EXTRA_SPDX = {"ZLIB", "CC0-1.0", "BSL-1.0"}
CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: BSD License": "BSD",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
}
# Vendored copies of other projects may carry other licences: never used.
VENDOR_DIRS = {"_vendor", "vendor", "vendored", "_vendored", "third_party", "thirdparty", "extern"}


def log(*parts):
    print(f"[{time.time() - T_START:7.1f}s]", *parts, flush=True)


def _spdx_accepts(expr: str) -> bool:
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+\-:]+", expr)
    pos = 0

    def parse_or():
        nonlocal pos
        branches = [parse_and()]
        while pos < len(tokens) and tokens[pos].upper() == "OR":
            pos += 1
            branches.append(parse_and())
        # each branch: (all terms permissive, has a core term)
        return (any(a and c for a, c in branches), any(a and c for a, c in branches))

    def parse_and():
        nonlocal pos
        ok, core = True, False
        while True:
            a, c = parse_term()
            ok, core = ok and a, core or c
            if pos < len(tokens) and tokens[pos].upper() == "AND":
                pos += 1
                continue
            return ok, core

    def parse_term():
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("truncated licence expression")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            r = parse_or()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ValueError("unbalanced parentheses")
            pos += 1
            return r
        if pos < len(tokens) and tokens[pos].upper() == "WITH":  # exceptions only add permissions
            pos += 2
        name = tok.upper().rstrip("+")
        return (name in CORE_SPDX or name in EXTRA_SPDX, name in CORE_SPDX)

    try:
        ok, _ = parse_or()
        return ok and pos == len(tokens)
    except (ValueError, IndexError):
        return False


def _license_field(text: str) -> str | None:
    """Maps a short free-text License field to a permissive identifier, or None."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not first or len(first) > 100:
        return None
    low = first.lower()
    if re.search(r"gpl|mpl|mozilla|proprietary|commercial|cc-by|eupl|sspl|unknown|other", low):
        return None
    if re.search(r"\bmit\b", low):
        return "MIT"
    if re.search(r"\bbsd\b", low):
        return "BSD"
    if "apache" in low:
        return "Apache-2.0"
    if re.search(r"\bpsf\b|python software foundation", low):
        return "PSF-2.0"
    if re.search(r"\bisc\b", low):
        return "ISC"
    return None


def package_licence(meta) -> tuple[bool, str]:
    """(permissive?, the licence as recorded) from a distribution's METADATA."""
    expr = (meta.get("License-Expression") or "").strip()
    if expr:
        return _spdx_accepts(expr), expr
    classifiers = [c.strip() for c in (meta.get_all("Classifier") or [])
                   if c.strip().startswith("License ::") and c.strip() != "License :: OSI Approved"]
    if classifiers:
        mapped = [CLASSIFIERS.get(c) for c in classifiers]
        shown = " / ".join(c.split(" :: ")[-1] for c in classifiers)
        if any(m is None for m in mapped):
            return False, f"classifier: {shown}"
        return True, f"{' OR '.join(mapped)} (classifier: {shown})"
    field = meta.get("License") or ""
    mapped = _license_field(field)
    if mapped:
        return True, f"{mapped} (License: {field.strip().splitlines()[0].strip()})"
    return False, (field.strip().splitlines()[0][:60] if field.strip() else "not recorded")


# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------
def site_roots() -> list[Path]:
    import site
    import sysconfig
    cands = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
             str(Path(torch.__file__).resolve().parent.parent)]
    try:
        cands += site.getsitepackages()
    except AttributeError:
        pass
    try:
        cands.append(site.getusersitepackages())
    except AttributeError:
        pass
    roots, seen = [], set()
    for c in cands:
        p = Path(c)
        if p.is_dir() and p.resolve() not in seen:
            seen.add(p.resolve())
            roots.append(p)
    return roots


def path_hash(rel: str) -> str:
    return hashlib.sha256(rel.encode("utf-8")).hexdigest()


def read_source(path: Path, max_bytes: int) -> str | None:
    try:
        if path.stat().st_size > max_bytes:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        return None
    if max(len(line) for line in text.split("\n")) > 2000:  # generated tables / minified data
        return None
    if not text.endswith("\n"):
        text += "\n"
    return text


def collect_corpus(args):
    from importlib.metadata import PathDistribution
    packages, skipped = {}, {}
    files = []  # (hash, rel, package, text)
    for root in site_roots():
        for info in sorted(root.glob("*.dist-info")):
            dist = PathDistribution(info)
            meta = dist.metadata
            name = (meta.get("Name") or info.name.split("-")[0]).strip()
            key = re.sub(r"[-_.]+", "-", name).lower()
            if key in packages or key in skipped:
                continue
            ok, licence = package_licence(meta)
            if not ok:
                skipped[key] = (name, dist.version, licence, "licence")
                continue
            record = dist.files
            if not record:
                skipped[key] = (name, dist.version, licence, "no RECORD")
                continue
            rels = sorted({str(f).replace("\\", "/") for f in record})
            n = 0
            for rel in rels:
                parts = rel.split("/")
                if not rel.endswith(".py") or ".." in parts or "__pycache__" in parts:
                    continue
                if VENDOR_DIRS.intersection(p.lower() for p in parts[:-1]):
                    continue
                text = read_source(root / rel, args.max_file_kb * 1024)
                if text is None:
                    continue
                files.append((path_hash(rel), rel, key, text))
                n += 1
            if n == 0:
                skipped[key] = (name, dist.version, licence, "no usable .py files")
                continue
            packages[key] = dict(name=name, version=dist.version, licence=licence, root=str(root))
    files.sort()  # by path hash: a deterministic shuffle, independent of the install location
    # Exact duplicates (vendored or copied files): keep the first copy only.
    seen, unique = set(), []
    for h, rel, pkg, text in files:
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        if digest not in seen:
            seen.add(digest)
            unique.append((h, rel, pkg, text))
    n_dups = len(files) - len(unique)
    # Split by path hash: the first 32 bits / 2^32 < heldout_frac -> held out.
    threshold = int(args.heldout_frac * 2**32)
    held = [f for f in unique if int(f[0][:8], 16) < threshold]
    train_all = [f for f in unique if int(f[0][:8], 16) >= threshold]
    # Training corpus: in hash order, at most max_corpus_mb, at most pkg_cap of it per package.
    cap = int(args.max_corpus_mb * 1e6)
    pkg_cap = int(cap * args.package_cap)
    per_pkg, total, train = {}, 0, []
    for f in train_all:
        size = len(f[3].encode("utf-8"))
        if total + size > cap or per_pkg.get(f[2], 0) + size > pkg_cap:
            continue
        per_pkg[f[2]] = per_pkg.get(f[2], 0) + size
        total += size
        train.append(f)
    # Held-out slice for the accuracy study: whole files (at most 64 KB each) in hash order.
    slice_parts, slice_files, slice_bytes = [], [], 0
    for h, rel, pkg, text in held:
        if slice_bytes >= args.heldout_kb * 1000:
            break
        if len(text.encode("utf-8")) > 64 * 1024:
            continue
        part = f"# ===== {rel} =====\n{text}\n"
        slice_parts.append(part)
        slice_files.append((rel, pkg))
        slice_bytes += len(part.encode("utf-8"))
    heldout_text = "".join(slice_parts)
    stats = {}
    for kind, group in (("train", train), ("held", held)):
        for _, _, pkg, text in group:
            s = stats.setdefault(pkg, {"train_files": 0, "train_bytes": 0, "held_files": 0,
                                       "held_bytes": 0, "slice_files": 0})
            s[f"{kind}_files"] += 1
            s[f"{kind}_bytes"] += len(text.encode("utf-8"))
    for _, pkg in slice_files:
        stats[pkg]["slice_files"] += 1
    return dict(packages=packages, skipped=skipped, train=train, held=held,
                n_candidates=len(files), n_dups=n_dups, n_train_all=len(train_all),
                heldout_text=heldout_text, slice_files=slice_files, stats=stats)


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------
def train_tokenizer(texts, vocab_size, arch):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    for i, s in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    bos = "</s>" if arch == "opt" else "<s>"  # OPT's convention: </s> (id 2) starts a sequence
    bos_id = tok.token_to_id(bos)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos}:1 $B:1", special_tokens=[(bos, bos_id)])
    return tok, bos, bos_id


def encode_stream(tok, texts, bos_id, batch=512):
    """Tokenised files, each starting with BOS (the post-processor), joined; for LLaMA each file
    also ends with </s> (for OPT BOS is </s>, so files are separated by exactly one </s>)."""
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
    chunks = []
    for i in range(0, len(texts), batch):
        for enc in encode(texts[i:i + batch], add_special_tokens=True):
            ids = enc.ids
            if bos_id != EOS_ID:
                ids = ids + [EOS_ID]
            chunks.append(np.asarray(ids, dtype=np.int32))
    return np.concatenate(chunks)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
def build_model(arch, vocab_size, bos_id):
    from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM
    a = ARCHS[arch]
    if arch == "opt":
        config = OPTConfig(
            vocab_size=vocab_size, hidden_size=a["hidden_size"], word_embed_proj_dim=a["hidden_size"],
            num_hidden_layers=a["num_hidden_layers"], ffn_dim=a["ffn_dim"],
            num_attention_heads=a["num_attention_heads"], max_position_embeddings=CONTEXT,
            do_layer_norm_before=True, activation_function="relu", dropout=0.0,
            attention_dropout=0.0, layerdrop=0.0, enable_bias=True,
            layer_norm_elementwise_affine=True, tie_word_embeddings=True,
            pad_token_id=PAD_ID, bos_token_id=bos_id, eos_token_id=EOS_ID, init_std=0.02)
        model = OPTForCausalLM(config)
    else:
        config = LlamaConfig(
            vocab_size=vocab_size, hidden_size=a["hidden_size"],
            intermediate_size=a["intermediate_size"], num_hidden_layers=a["num_hidden_layers"],
            num_attention_heads=a["num_attention_heads"],
            num_key_value_heads=a["num_key_value_heads"], head_dim=a["head_dim"],
            max_position_embeddings=CONTEXT, rope_theta=10000.0, rms_norm_eps=1e-5,
            hidden_act="silu", attention_bias=False, mlp_bias=False, attention_dropout=0.0,
            tie_word_embeddings=True, pad_token_id=PAD_ID, bos_token_id=bos_id,
            eos_token_id=EOS_ID, initializer_range=0.02)
        model = LlamaForCausalLM(config)
    return model


def n_params(model):
    return sum(p.numel() for p in model.parameters())  # tied weights counted once


def lr_at(step, total, warmup, peak, min_ratio):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, stream, args, device, deadline):
    model.to(device).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt_kwargs = dict(lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    if device.type == "cuda":
        opt_kwargs["fused"] = True
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], **opt_kwargs)
    data = torch.from_numpy(stream).to(device)
    n = data.numel()
    span = CONTEXT + 1
    assert n > span + 1, "corpus too small"
    offsets = torch.arange(span, device=device)
    # Every batch's crop offsets, drawn up front from the seeded generator (no host sync per step).
    gen = torch.Generator().manual_seed(args.seed)
    all_starts = torch.randint(0, n - span, (args.steps, args.batch_size), generator=gen).to(device)
    use_amp = device.type == "cuda"
    warmup = max(1, min(args.warmup, args.steps // 10))
    total = args.steps  # cosine length; shortened once the step time is known when time-limited
    est_from, est_to = min(10, warmup), min(30, warmup)
    t_est = None
    loss_acc = torch.zeros((), device=device)
    n_acc, step, last_loss = 0, 0, float("nan")
    t_train = time.time()
    log(f"training: batch {args.batch_size} x {CONTEXT} tokens, peak lr {args.lr}, warmup {warmup}, "
        f"step cap {args.steps}, {max(0.0, deadline - time.time()):.0f}s left for training")
    while step < total:
        if step == est_from or step == est_to:
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step == est_from:
                t_est = time.time()
            elif t_est is not None and est_to > est_from:
                per_step = (time.time() - t_est) / (est_to - est_from)
                fit = step + int(max(0.0, deadline - time.time()) * 0.95 / per_step)
                if fit < total:
                    total = max(step + 1, fit)
                    warmup = min(warmup, max(1, total // 10))  # as --steps TOTAL would give
                log(f"{per_step * 1000:.1f} ms/step: cosine schedule over {total} steps")
        if time.time() >= deadline and step > 0:
            log(f"time budget reached at step {step} (schedule was {total} steps)")
            break
        if args.stop_at_step and step >= args.stop_at_step:
            log(f"stopping at step {step} (--stop-at-step)")
            break
        lr = lr_at(step, total, warmup, args.lr, args.min_lr_ratio)
        for g in optimizer.param_groups:
            g["lr"] = lr
        batch = data[all_starts[step][:, None] + offsets[None, :]].long()
        inputs, targets = batch[:, :-1], batch[:, 1:]
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(input_ids=inputs, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss_acc += loss.detach()
        n_acc += 1
        step += 1
        if step % args.log_every == 0 or step == 1 or step == total:
            last_loss = (loss_acc / n_acc).item()
            dt = time.time() - t_train
            log(f"step {step:6d}/{total} loss {last_loss:.4f} lr {lr:.2e} "
                f"{step * args.batch_size * CONTEXT / dt / 1e3:8.1f}k tok/s")
            loss_acc.zero_()
            n_acc = 0
    if n_acc:
        last_loss = (loss_acc / n_acc).item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return dict(steps=step, schedule_steps=total, warmup=warmup,
                tokens_seen=step * args.batch_size * CONTEXT, seconds=time.time() - t_train,
                final_loss=last_loss)


# ---------------------------------------------------------------------------------------------
# Evaluation and reference figures (CPU, float32 from the float16 weights)
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def heldout_perplexity(model, ids, context=CONTEXT, batch=8):
    windows = [ids[i:i + context] for i in range(0, len(ids), context)]
    windows = [w for w in windows if len(w) >= 2]
    nll, count = 0.0, 0
    full = [w for w in windows if len(w) == context]
    rest = [w for w in windows if len(w) != context]
    groups = [full[i:i + batch] for i in range(0, len(full), batch)] + [[w] for w in rest]
    for g in groups:
        x = torch.tensor(g, dtype=torch.long)
        logits = model(input_ids=x, use_cache=False).logits.float()
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                               reduction="sum")
        nll += float(loss.double())
        count += x[:, 1:].numel()
    mean = nll / count
    return dict(value=math.exp(mean), mean_nll=mean, n_tokens=count, n_windows=len(windows))


@torch.no_grad()
def reference_figures(model, hf_tok, gen_len):
    from transformers import GenerationConfig
    prompts = [hf_tok(p, add_special_tokens=True)["input_ids"] for p in PROMPTS]
    S = max(len(p) for p in prompts)
    input_ids = [[PAD_ID] * (S - len(p)) + p for p in prompts]
    mask = [[0] * (S - len(p)) + [1] * len(p) for p in prompts]
    ids_t = torch.tensor(input_ids)
    mask_t = torch.tensor(mask)
    pos = (mask_t.cumsum(-1) - 1).masked_fill(mask_t == 0, 1)
    prefill = model(input_ids=ids_t, attention_mask=mask_t, position_ids=pos,
                    use_cache=False).logits.float()
    # Greedy; </s> is not a stop token here (and so never suppressed by min_new_tokens), so every
    # sequence has gen_len tokens and argmax(decode_logits[b, t]) == generated[b][t]. generate()
    # fills an unset eos_token_id from the model's generation_config: clear it there too.
    model.generation_config.eos_token_id = None
    gc = GenerationConfig(do_sample=False, max_new_tokens=gen_len, min_new_tokens=gen_len,
                          pad_token_id=PAD_ID, bos_token_id=model.config.bos_token_id,
                          eos_token_id=None, output_logits=True, return_dict_in_generate=True)
    out = model.generate(input_ids=ids_t, attention_mask=mask_t, generation_config=gc)
    generated = out.sequences[:, S:]
    decode = torch.stack([l.float() for l in out.logits], dim=1)
    assert generated.shape == (len(PROMPTS), gen_len), generated.shape
    assert decode.shape[:2] == (len(PROMPTS), gen_len), decode.shape
    picked = decode.argmax(-1)
    if not torch.equal(picked, generated):  # only possible through an exact tie
        top2 = decode.topk(2, dim=-1).values
        bad = picked != generated
        assert torch.all((top2[..., 0] - top2[..., 1])[bad] < 1e-5), "decode logits do not match"
    # The last prompt position's logits are the first decode step's.
    diff = (prefill[:, -1] - decode[:, 0]).abs().max().item()
    assert diff < 1e-3, f"prefill / decode mismatch {diff}"
    return dict(prompts=prompts, input_ids=input_ids, attention_mask=mask, generated=generated.tolist(),
                prefill_logits=prefill.contiguous(), decode_logits=decode.contiguous())


# ---------------------------------------------------------------------------------------------
def fmt_mb(n):
    return f"{n / 1e6:.2f} MB"


def render_readme(values):
    text = TEMPLATE.read_text(encoding="utf-8")
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", str(v))
    left = re.findall(r"\{\{[A-Z0-9_]+\}\}", text)
    assert not left, f"unfilled README placeholders: {left}"
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS), required=True)
    ap.add_argument("--out", required=True, type=Path, help="output checkpoint folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=4.0,
                    help="wall-clock budget from script start to the end of training")
    ap.add_argument("--steps", type=int, default=100000, help="maximum training steps "
                    "(and the cosine schedule's length when the time budget is not binding)")
    ap.add_argument("--stop-at-step", type=int, default=0,
                    help="stop after this many steps of the schedule (to reproduce a run that "
                    "ran out of time before its schedule ended)")
    ap.add_argument("--heldout-out", type=Path, default=None,
                    help="held-out text for the accuracy study (default OUT/heldout.txt)")
    ap.add_argument("--max-corpus-mb", type=float, default=96.0, help="training text cap (MB)")
    ap.add_argument("--package-cap", type=float, default=0.3,
                    help="at most this fraction of the training text from one package")
    ap.add_argument("--tokenizer-mb", type=float, default=24.0,
                    help="training text used to train the tokenizer (MB, first in hash order)")
    ap.add_argument("--max-file-kb", type=int, default=256, help="larger files are skipped")
    ap.add_argument("--heldout-frac", type=float, default=0.02, help="share of files held out")
    ap.add_argument("--heldout-kb", type=int, default=300, help="size of the held-out text file")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--batch-size", type=int, default=32, help="sequences of 1024 tokens")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--gen-len", type=int, default=32)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--max-model-mb", type=float, default=11.5, help="model.safetensors limit")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--no-deterministic", action="store_true",
                    help="skip torch.use_deterministic_algorithms")
    args = ap.parse_args()
    command = "PYTHONUNBUFFERED=1 python3 scripts/train_demo_model.py " + shlex.join(sys.argv[1:])
    deadline = T_START + args.minutes * 60
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    heldout_path = args.heldout_out or out / "heldout.txt"

    import safetensors
    import tokenizers
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if not args.no_deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if hasattr(torch.utils, "deterministic"):  # NaN-filling torch.empty only costs time here
            torch.utils.deterministic.fill_uninitialized_memory = False
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    log(f"device {device} ({gpu}); torch {torch.__version__}, transformers {transformers.__version__}, "
        f"tokenizers {tokenizers.__version__}, python {platform.python_version()}")

    # 1. Corpus.
    corpus = collect_corpus(args)
    train_files, held = corpus["train"], corpus["held"]
    train_bytes = sum(len(f[3].encode("utf-8")) for f in train_files)
    held_bytes = sum(len(f[3].encode("utf-8")) for f in held)
    log(f"corpus: {len(corpus['packages'])} packages, {len(train_files)} training files "
        f"({fmt_mb(train_bytes)}), {len(held)} held-out files ({fmt_mb(held_bytes)}), "
        f"{corpus['n_dups']} duplicates dropped, {len(corpus['skipped'])} packages skipped")
    heldout_text = corpus["heldout_text"]
    heldout_path.parent.mkdir(parents=True, exist_ok=True)
    heldout_path.write_bytes(heldout_text.encode("utf-8"))
    heldout_text = heldout_path.read_bytes().decode("utf-8")  # evaluate exactly the file's text
    log(f"held-out text: {heldout_path} ({len(heldout_text.encode('utf-8'))} bytes, "
        f"{len(corpus['slice_files'])} files)")

    # 2. Tokenizer (training split only, first tokenizer_mb in hash order).
    tok_texts, size = [], 0
    for f in train_files:
        if size >= args.tokenizer_mb * 1e6:
            break
        tok_texts.append(f[3])
        size += len(f[3].encode("utf-8"))
    tok, bos, bos_id = train_tokenizer(tok_texts, args.vocab_size, args.arch)
    vocab = tok.get_vocab_size()
    log(f"tokenizer: vocabulary {vocab}, trained on {len(tok_texts)} files ({fmt_mb(size)}); "
        f"BOS {bos} ({bos_id})")
    stream = encode_stream(tok, [f[3] for f in train_files], bos_id)
    log(f"tokenised: {len(stream)} training tokens ({train_bytes / len(stream):.2f} bytes/token)")

    # 3. Model.
    model = build_model(args.arch, vocab, bos_id)
    params = n_params(model)
    limit = int(args.max_model_mb * 1e6)
    assert 2 * params + 64 * 1024 <= limit, \
        f"{params} parameters: float16 file ~{fmt_mb(2 * params)} exceeds {args.max_model_mb} MB"
    log(f"model: {args.arch}, {params} parameters (~{fmt_mb(2 * params)} in float16), "
        f"attention {model.config._attn_implementation}")
    stats = train(model, stream, args, device, deadline)
    log(f"trained {stats['steps']} steps, {stats['tokens_seen'] / 1e6:.1f}M tokens in "
        f"{stats['seconds']:.1f}s, final loss {stats['final_loss']:.4f}")

    # 4. Save: float16 weights, tokenizer.json, tokenizer_config.json.
    model.to("cpu").half().eval()
    save_kwargs = {}
    import inspect
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        save_kwargs["safe_serialization"] = True
    model.save_pretrained(out, **save_kwargs)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", model_max_length=CONTEXT, padding_side="left",
        clean_up_tokenization_spaces=False)
    hf_tok.save_pretrained(out)
    tok.save(str(out / "tokenizer.json"))  # exactly the trained tokenizer (with its post-processor)
    for f in out.iterdir():
        if f.is_file():
            f.chmod(0o644)
    model_bytes = (out / "model.safetensors").stat().st_size
    assert model_bytes <= limit, f"model.safetensors is {model_bytes} bytes > {limit}"
    del model

    # 5. Reload as alisa sees it: float16 weights, computed in float32 on the CPU.
    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float16).float().eval()
    hf_tok = AutoTokenizer.from_pretrained(out)
    for p in PROMPTS:  # HF reloads the tokenizer unchanged
        assert hf_tok(p)["input_ids"] == tok.encode(p).ids, p
    t_eval = time.time()
    held_ids = tok.encode(heldout_text, add_special_tokens=False).ids
    ppl = heldout_perplexity(model, held_ids)
    log(f"held-out perplexity {ppl['value']:.4f} over {ppl['n_tokens']} tokens "
        f"({ppl['n_windows']} windows) in {time.time() - t_eval:.1f}s")
    ref = reference_figures(model, hf_tok, args.gen_len)
    completions = [tok.decode(g, skip_special_tokens=False) for g in ref["generated"]]
    heldout_name = Path(os.path.relpath(heldout_path.resolve(), out.resolve())).as_posix()
    method = ("text = the held-out file's bytes decoded as UTF-8; ids = tokenizer.encode(text, "
              "add_special_tokens=False) (no BOS); split ids into consecutive non-overlapping "
              f"windows of {CONTEXT} tokens (the last may be shorter; one of fewer than 2 tokens "
              "is dropped); run each window alone (positions 0..len-1, no padding, no context "
              "carried over); NLL of tokens 1..len-1 of each window given the ones before it; "
              "perplexity = exp(sum of NLL / n_tokens); float32 from the float16 weights")
    reference = {
        "prompts": ref["prompts"], "input_ids": ref["input_ids"],
        "attention_mask": ref["attention_mask"], "gen_len": args.gen_len,
        "generated": ref["generated"], "pad_token_id": PAD_ID,
        "note": ("prefill_logits: float32 logits of the padded prompt batch [B,S,V]; decode_logits: "
                 "the logits that chose each generated token [B,T,V] (greedy, </s> not a stop "
                 "token); weights are float16, references computed in float32 from them"),
        "prompt_texts": PROMPTS, "completions": completions,
        "heldout_perplexity": {
            "value": ppl["value"], "context_length": CONTEXT, "stride": CONTEXT,
            "n_tokens": ppl["n_tokens"], "method": method, "mean_nll": ppl["mean_nll"],
            "n_windows": ppl["n_windows"], "file": heldout_name,
            "file_bytes": len(heldout_text.encode("utf-8")),
            "file_sha256": hashlib.sha256(heldout_text.encode("utf-8")).hexdigest(),
        },
    }
    (out / "reference.json").write_text(json.dumps(reference), encoding="utf-8")
    save_file({"prefill_logits": ref["prefill_logits"], "decode_logits": ref["decode_logits"]},
              str(out / "reference.safetensors"))
    (out / "reference.safetensors").chmod(0o644)
    ref_bytes = (out / "reference.safetensors").stat().st_size

    # 6. README.
    cfg = model.config
    rows = []
    for key in sorted(corpus["stats"], key=lambda k: corpus["packages"][k]["name"].lower()):
        s, p = corpus["stats"][key], corpus["packages"][key]
        if s["train_files"] == 0 and s["held_files"] == 0:
            continue
        rows.append(f"| {p['name']} | {p['version']} | {p['licence']} | {s['train_files']} | "
                    f"{s['train_bytes']:,} | {s['held_files']} | {s['slice_files']} |")
    skipped = [f"{n} {v} ({why}: {lic})" for n, v, lic, why in
               sorted(corpus["skipped"].values(), key=lambda x: x[0].lower())]
    repro = re.sub(r"--minutes[= ]\S+ ?", "", command).rstrip()
    repro = re.sub(r"--steps[= ]\S+ ?", "", repro).rstrip()
    repro = re.sub(r"--stop-at-step[= ]\S+ ?", "", repro).rstrip()
    repro += f" --steps {stats['schedule_steps']} --minutes 60"
    if stats["steps"] < stats["schedule_steps"]:
        repro += f" --stop-at-step {stats['steps']}"
    total_seconds = time.time() - T_START
    if args.arch == "opt":
        arch_desc = (f"OPT (`OPTForCausalLM`): hidden {cfg.hidden_size}, {cfg.num_hidden_layers} "
                     f"layers, {cfg.num_attention_heads} heads (head_dim "
                     f"{cfg.hidden_size // cfg.num_attention_heads}), FFN {cfg.ffn_dim} (ReLU), "
                     f"pre-LayerNorm, learned positions ({cfg.max_position_embeddings} + OPT's "
                     "offset 2 rows), biases, lm_head tied to the token embedding")
    else:
        arch_desc = (f"LLaMA (`LlamaForCausalLM`): hidden {cfg.hidden_size}, {cfg.num_hidden_layers} "
                     f"layers, {cfg.num_attention_heads} query heads sharing {cfg.num_key_value_heads} "
                     f"KV heads (grouped-query attention, head_dim {cfg.head_dim}), SwiGLU MLP "
                     f"{cfg.intermediate_size}, RMSNorm (eps {cfg.rms_norm_eps}), rotary positions "
                     f"(theta 10000), context {cfg.max_position_embeddings}, no biases, lm_head "
                     "tied to the token embedding")
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    values = {
        "TITLE": f"alisa demo model: {args.arch.upper()} ({params / 1e6:.2f}M parameters)",
        "ARCH": args.arch, "ARCH_DESC": arch_desc, "PARAMS": f"{params:,}",
        "MODEL_BYTES": f"{model_bytes:,}", "VOCAB": vocab, "CONTEXT": CONTEXT,
        "BOS": f"`{bos}` (id {bos_id})", "BOS_TOKEN": bos,
        "TORCH": torch.__version__, "TRANSFORMERS": transformers.__version__,
        "TOKENIZERS": tokenizers.__version__, "SAFETENSORS": safetensors.__version__,
        "PYTHON": platform.python_version(), "DEVICE": gpu,
        "N_PACKAGES": len(rows), "PACKAGE_ROWS": "\n".join(rows),
        "SKIPPED": "; ".join(skipped) if skipped else "none",
        "N_CANDIDATES": corpus["n_candidates"], "N_DUPS": corpus["n_dups"],
        "N_TRAIN_ALL": corpus["n_train_all"], "N_TRAIN": len(train_files),
        "TRAIN_BYTES": f"{train_bytes:,}", "N_HELD": len(held), "HELD_BYTES": f"{held_bytes:,}",
        "HELDOUT_FRAC": args.heldout_frac, "MAX_CORPUS_MB": args.max_corpus_mb,
        "PACKAGE_CAP": args.package_cap, "MAX_FILE_KB": args.max_file_kb,
        "TOKENIZER_FILES": len(tok_texts), "TOKENIZER_BYTES": f"{size:,}",
        "TRAIN_TOKENS": f"{len(stream):,}", "BYTES_PER_TOKEN": f"{train_bytes / len(stream):.2f}",
        "COMMAND": command, "REPRO_COMMAND": repro, "SEED": args.seed,
        "BATCH": args.batch_size, "LR": args.lr, "MIN_LR": args.lr * args.min_lr_ratio,
        "WARMUP": stats["warmup"], "WEIGHT_DECAY": args.weight_decay,
        "STEPS": stats["steps"], "SCHEDULE_STEPS": stats["schedule_steps"],
        "TOKENS_SEEN": f"{stats['tokens_seen']:,}",
        "EPOCHS": f"{stats['tokens_seen'] / len(stream):.1f}",
        "TRAIN_SECONDS": f"{stats['seconds']:.0f}", "TOTAL_SECONDS": f"{total_seconds:.0f}",
        "FINAL_LOSS": f"{stats['final_loss']:.4f}", "PPL": f"{ppl['value']:.4f}",
        "PPL_NLL": f"{ppl['mean_nll']:.5f}", "PPL_TOKENS": f"{ppl['n_tokens']:,}",
        "PPL_WINDOWS": ppl["n_windows"], "HELDOUT_FILE": heldout_name,
        "HELDOUT_BYTES": f"{len(heldout_text.encode('utf-8')):,}",
        "HELDOUT_FILES": len(corpus["slice_files"]), "HELDOUT_KB": args.heldout_kb,
        "HELDOUT_SHA": reference["heldout_perplexity"]["file_sha256"],
        "GEN_LEN": args.gen_len, "REF_BYTES": f"{ref_bytes:,}",
        "B": len(PROMPTS), "S": len(ref["input_ids"][0]),
        "COMPLETIONS": "\n\n".join(
            f"Prompt `{json.dumps(p)}`, prompt + completion:\n\n````text\n{p}{c}\n````"
            for p, c in zip(PROMPTS, completions)),
        "FILES": ", ".join(f"`{f}`" for f in sorted(set(files) | {"README.md"})),
        "DETERMINISTIC": "off" if args.no_deterministic else "on (warn_only)",
    }
    (out / "README.md").write_text(render_readme(values), encoding="utf-8")
    ckpt = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json"]
    ckpt_bytes = sum((out / f).stat().st_size for f in ckpt if (out / f).exists())
    summary = {"arch": args.arch, "out": str(out), "params": params, "model_bytes": model_bytes,
               "checkpoint_bytes": ckpt_bytes, "reference_bytes": ref_bytes, "vocab": vocab,
               "steps": stats["steps"], "schedule_steps": stats["schedule_steps"],
               "tokens_seen": stats["tokens_seen"], "train_seconds": round(stats["seconds"], 1),
               "total_seconds": round(total_seconds, 1), "final_loss": round(stats["final_loss"], 4),
               "heldout_ppl": round(ppl["value"], 4), "heldout_tokens": ppl["n_tokens"],
               "device": gpu}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
