"""PyTorch side of bench/bdh.sh: BDH-GPU training steps and generation on one thread, timed.

The reference code (pathwaycom/bdh @ 714bc80) is not on PyPI, so it cannot be fetched on an
offline machine. This runs `shared/anchors/bdh/bdh_spec.py` instead: a re-statement of the
reference's maths that reproduces its logits (spec §8.2).
- Training: `bdh_spec.parallel_forward`, written out here with the reference's dropout on
  `x ⊙ y` added. AdamW(1e-3, weight decay 0.1) over all five tensors, as train.py.
- Generation, two ways: as the reference's `generate()` (the whole prefix run again for every
  new byte), and in bdh_spec's recurrent form.

Random bytes and N(0, 0.02²) weights, as engram's `step_bench`. Prints one `RESULT {json}` line
per measurement, with the same fields as `step_bench`.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

CONFIGS = {
    # name: (n_layer, n_embd, n_head, mult, batch, block), as step_bench
    "anchor": (4, 128, 4, 16, 8, 256),
    "default": (6, 256, 4, 128, 1, 256),
}


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec-dir", required=True, help="shared/anchors/bdh (holds bdh_spec.py)")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="anchor")
    ap.add_argument("--steps", type=int, default=8, help="timed training steps")
    ap.add_argument("--generate", type=int, nargs="*", default=[100, 1000],
                    help="bytes to generate (recurrent form)")
    ap.add_argument("--prefix-generate", type=int, default=100,
                    help="bytes to generate re-running the prefix (0: skip)")
    return ap.parse_args()


def cpu_seconds():
    return time.process_time()


def report(what, how, tokens, wall, cpu):
    load = os.getloadavg()[0]
    print("RESULT " + json.dumps({
        "what": what, "how": how,
        "tokens_per_s_wall": round(tokens / wall, 1),
        "tokens_per_s_cpu": round(tokens / cpu, 1),
        "loadavg_1m": round(load, 2),
    }), flush=True)


def train_forward(spec, p, idx, n_layer, dropout):
    """bdh_spec.parallel_forward with the reference's dropout on the gated activity."""
    H, D, N = p["encoder"].shape
    B, T = idx.shape
    v = spec._ln(p["embed"][idx])
    cos, sin = spec.rope_cos_sin(torch.arange(T), N)
    causal = torch.tril(torch.ones(T, T), diagonal=-1)
    for _ in range(n_layer):
        x = F.relu(torch.einsum("btd,hdn->bhtn", v, p["encoder"]))
        xr = spec.rotate_pairs(x, cos, sin)
        scores = (xr @ xr.transpose(-1, -2)) * causal
        a = spec._ln(scores @ v.unsqueeze(1))
        y = F.relu(torch.einsum("bhtd,hdn->bhtn", a, p["encoder_v"]))
        g = F.dropout(x * y, dropout, training=True)
        m = g.permute(0, 2, 1, 3).reshape(B, T, H * N) @ p["decoder"]
        v = spec._ln(v + spec._ln(m))
    return v @ p["lm_head"]


@torch.no_grad()
def prefix_generate(spec, p, n_layer, prompt, count, gen):
    """As the reference's generate(): every new byte runs the whole prefix again."""
    out = list(prompt)
    for _ in range(count):
        logits = spec.parallel_forward(p, torch.tensor([out]), n_layer)[0, -1]
        kth = torch.topk(logits, 3).values[-1]
        logits = torch.where(logits < kth, torch.full_like(logits, float("-inf")), logits)
        out.append(int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)))
    return out


def main():
    a = parse()
    sys.path.insert(0, a.spec_dir)
    import bdh_spec as spec

    torch.set_num_threads(1)
    torch.manual_seed(1)
    n_layer, d, h, mult, batch, block = CONFIGS[a.config]
    n = mult * d // h
    shapes = {"embed": (256, d), "encoder": (h, d, n), "encoder_v": (h, d, n),
              "decoder": (h * n, d), "lm_head": (d, 256)}
    p = {k: (0.02 * torch.randn(s)).requires_grad_() for k, s in shapes.items()}
    opt = torch.optim.AdamW(p.values(), lr=1e-3, weight_decay=0.1)
    tokens = torch.randint(0, 256, (batch, block + 1))

    def step():
        logits = train_forward(spec, p, tokens[:, :-1], n_layer, 0.1)
        loss = F.cross_entropy(logits.reshape(-1, 256), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    walls, cpus = [], []
    for _ in range(a.steps):
        w, c = time.perf_counter(), cpu_seconds()
        step()
        walls.append(time.perf_counter() - w)
        cpus.append(cpu_seconds() - c)
    report("train", "torch", batch * block, statistics.median(walls), statistics.median(cpus))

    params = {k: v.detach() for k, v in p.items()}
    prompt = list(b"To be or ")
    gen = torch.Generator().manual_seed(0)
    if a.prefix_generate > 0:
        w, c = time.perf_counter(), cpu_seconds()
        prefix_generate(spec, params, n_layer, prompt, a.prefix_generate, gen)
        report(f"generate {a.prefix_generate}", "torch, prefix re-run", a.prefix_generate,
               time.perf_counter() - w, cpu_seconds() - c)
    for count in a.generate:
        w, c = time.perf_counter(), cpu_seconds()
        spec.recurrent_generate(params, n_layer, prompt, count, top_k=3, gen=gen)
        report(f"generate {count}", "torch, recurrent", count,
               time.perf_counter() - w, cpu_seconds() - c)


if __name__ == "__main__":
    main()
