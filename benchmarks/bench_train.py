"""Training throughput of scalinglab's GPT, as ratios against references run alongside.

    python benchmarks/bench_train.py [--quick] [--device cpu|cuda] [--json out.json]

For a few model sizes (byte vocabulary, GPT-2 shapes) it times full training steps
(forward, backward, fused AdamW) of

* scalinglab's GPT, and
* the GPT-2 of the `transformers` package at the same shape, batch and context
  (randomly initialised from a config, no download; dropout off, SDPA attention),

and reports tokens/s and achieved FLOP/s, where FLOPs are the model FLOPs the kernels
perform (Hoffmann et al. 2022, App. F, without the input-embedding lookup; see
``scalinglab.models.counting.model_flops_per_token``), as ratios against

(a) the machine's matrix-multiply peak measured in the same run (fp32 on CPU; bf16 on a
    GPU, where the ratio is the model FLOP utilisation, MFU), and
(b) the peer implementation.

The machine may be shared, so measurements are interleaved (peak, ours, peer, in turns)
and the best of several repetitions is kept for each: the least-disturbed estimate.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings

import torch

from scalinglab.models.counting import gpt_param_counts, model_flops_per_token
from scalinglab.models.gpt import GPT, GPTConfig

# (name, n_layer, d_model, n_head, context, batch)
SIZES = [
    ("0.1M", 2, 64, 2, 128, 32),
    ("0.8M", 4, 128, 4, 256, 16),
    ("4.7M", 6, 256, 4, 256, 16),
    ("19M", 8, 448, 7, 256, 16),
]
QUICK = ["0.8M", "4.7M"]
GPU_SIZES = [
    ("4.7M", 6, 256, 4, 256, 64),
    ("85M", 12, 768, 12, 1024, 16),
]
# Dense bf16 peaks of the datasheets (no sparsity), for the nominal MFU on GPUs.
NOMINAL_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: str, dtype: torch.dtype, sizes=(1024, 2048), repeats: int = 3) -> float:
    """Best FLOP/s of square matrix products (2 n^3 FLOPs each)."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        inner = max(2, int(4e10 // (2 * n**3))) if device == "cuda" else 4
        for _ in range(2):
            a @ b
        sync(device)
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(inner):
                a @ b
            sync(device)
            best = max(best, 2 * n**3 * inner / (time.perf_counter() - start))
    return best


def peer_model(n_layer, d_model, n_head, context, device):
    import transformers
    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(
        n_layer=n_layer, n_embd=d_model, n_head=n_head, n_positions=context, vocab_size=256,
        bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        tie_word_embeddings=False)
    config._attn_implementation = "sdpa"
    return transformers.GPT2LMHeadModel(config).to(device)


def step_timer(model, batch, context, device, peer: bool, autocast: bool):
    """A function that runs one training step and returns its wall time."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch, context), generator=gen).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device in ("cpu", "cuda"))

    def one_step() -> float:
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=autocast):
            if peer:
                loss = model(input_ids=x, labels=x).loss
            else:
                loss = model(x, x)[1]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        return time.perf_counter() - start
    for _ in range(2):  # warm up (allocations, kernel selection)
        one_step()
    return one_step


def bench_size(name, n_layer, d_model, n_head, context, batch, device, rounds, steps, compile_):
    autocast = device == "cuda"
    torch.manual_seed(0)
    ours = GPT(GPTConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, context=context,
                         vocab_size=256, tie_embeddings=False)).to(device)
    theirs = peer_model(n_layer, d_model, n_head, context, device)
    n_ours = sum(p.numel() for p in ours.parameters())
    n_theirs = sum(p.numel() for p in theirs.parameters())
    # the same architecture: GPT-2 has the same parameters as ours at this shape
    assert n_ours == n_theirs, (n_ours, n_theirs)
    if compile_:
        ours = torch.compile(ours)
    timers = {"ours": step_timer(ours, batch, context, device, False, autocast),
              "peer": step_timer(theirs, batch, context, device, True, autocast)}
    best = {k: float("inf") for k in timers}
    peak_dtype = torch.bfloat16 if device == "cuda" else torch.float32
    peak = 0.0
    for r in range(rounds):
        peak = max(peak, matmul_peak(device, peak_dtype, repeats=1))
        order = ("ours", "peer") if r % 2 == 0 else ("peer", "ours")
        for key in order:
            for _ in range(steps):
                best[key] = min(best[key], timers[key]())
    flops_per_token = model_flops_per_token(n_layer, d_model, n_head, context, 256)
    tokens = batch * context
    tps = {k: tokens / best[k] for k in best}
    counts = gpt_param_counts(dict(n_layer=n_layer, d_model=d_model, n_head=n_head,
                                   context=context, vocab_size=256))
    return {
        "model": name, "n_layer": n_layer, "d_model": d_model, "n_head": n_head,
        "context": context, "batch": batch, "N": counts.non_embedding, "N_total": counts.total,
        "flops_per_token": flops_per_token, "ours_tokens_per_s": tps["ours"],
        "peer_tokens_per_s": tps["peer"], "ours_flops": tps["ours"] * flops_per_token,
        "peer_flops": tps["peer"] * flops_per_token, "matmul_peak": peak,
        "ours_vs_peak": tps["ours"] * flops_per_token / peak,
        "peer_vs_peak": tps["peer"] * flops_per_token / peak,
        "ours_vs_peer": tps["ours"] / tps["peer"],
    }


def table(rows, device, nominal):
    peak_name = "bf16 MFU" if device == "cuda" else "of fp32 peak"
    head = ["model", "N (non-emb)", "batch x ctx", "ours tok/s", "peer tok/s", "ours/peer",
            "ours GFLOP/s", f"ours {peak_name}", f"peer {peak_name}", "matmul peak GFLOP/s"]
    if nominal:
        head.append("ours MFU (datasheet)")
    lines = []
    for r in rows:
        line = [r["model"], f"{r['N']:,}", f"{r['batch']} x {r['context']}",
                f"{r['ours_tokens_per_s']:,.0f}", f"{r['peer_tokens_per_s']:,.0f}",
                f"{r['ours_vs_peer']:.2f}x", f"{r['ours_flops'] / 1e9:,.1f}",
                f"{r['ours_vs_peak']:.0%}", f"{r['peer_vs_peak']:.0%}", f"{r['matmul_peak'] / 1e9:,.0f}"]
        if nominal:
            line.append(f"{r['ours_flops'] / nominal:.1%}")
        lines.append(line)
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(v.rjust(w) for v, w in zip(row, widths))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(l) for l in lines])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two sizes, fewer repetitions")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our model")
    parser.add_argument("--sizes", default=None, help="comma-separated size names")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cpu":
        # denormal floats made small GPTs 30x slower on a 2-core machine
        torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = GPU_SIZES if device == "cuda" else SIZES
    wanted = args.sizes.split(",") if args.sizes else ([s[0] for s in sizes if s[0] in QUICK]
                                                       if args.quick and device == "cpu" else
                                                       [s[0] for s in sizes][: 1 if args.quick else None])
    rounds, steps = (3, 3) if args.quick else (5, 4)
    if device == "cuda":
        rounds, steps = (3, 10) if args.quick else (5, 20)
    import transformers
    name = torch.cuda.get_device_name(0) if device == "cuda" else (platform.processor() or platform.machine())
    nominal = next((v for k, v in NOMINAL_BF16.items() if k in name), None) if device == "cuda" else None
    print(f"device: {device} ({name}), threads: {torch.get_num_threads()}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"timing: best of {rounds} interleaved rounds x {steps} steps; peer = transformers GPT2LMHeadModel "
          "(same shape, batch, context; SDPA; dropout off); FLOPs = model FLOPs per token x tokens/s")
    rows = []
    for spec in sizes:
        if spec[0] in wanted:
            rows.append(bench_size(*spec, device=device, rounds=rounds, steps=steps, compile_=args.compile))
    # One peak for the whole run: the best matrix-multiply rate seen in any round (a
    # round measured while the machine was busy would otherwise flatter its model).
    peak = max(r["matmul_peak"] for r in rows)
    for r in rows:
        r["matmul_peak"] = peak
        r["ours_vs_peak"] = r["ours_flops"] / peak
        r["peer_vs_peak"] = r["peer_flops"] / peak
    print(table(rows, device, nominal))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "device_name": name, "threads": torch.get_num_threads(),
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
