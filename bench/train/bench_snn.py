"""Training / inference throughput of a 784-1000-10 LIF SNN in snnTorch or SpikingJelly (CPU).

Workload (issue 3; shared/anchors/train-anchors.md sections 1-2, from whose bench_torch_snn.py
this is trimmed): 784 -> 1000 LIF (beta 0.95, threshold 1, subtractive reset) -> 10 LIF, T = 25,
batch 128, Adam lr 5e-4, loss = cross-entropy on output spike counts. Input is rate coded: a fresh
Bernoulli draw per step from the MNIST pixel intensities, counted in the timed step. Data: the first
64 batches of real MNIST training images (data/mnist, IDX raw or .gz), cycled.

A train step = encode + forward over T + loss + backward (BPTT) + Adam step.
An infer step = encode + forward + argmax of counts, under torch.inference_mode().

Usage:
  python bench_snn.py --lib snntorch|sj_m --what train|infer [--threads 1] [--batches 10]
                      [--repeats 3] [--warmup 2] [--data DIR] [--T 25] [--batch 128] [--hidden 1000]
Prints one line `RESULT {json}`. samples_per_s_cpu uses the process CPU time (all threads), the
primary metric on a shared machine for one thread; with several threads use the wall numbers.

lib:
  snntorch  snnTorch tutorial-5 loop: per step nn.Linear + snn.Leaky, fast_sigmoid(slope 25)
  sj_m      SpikingJelly multi-step: layer.Linear over T*B rows + LIFNode(step_mode='m')
            (tau 20, decay_input=False, v_reset=None: v = 0.95 v + x, soft reset), ATan surrogate
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--lib", choices=["snntorch", "sj_m"], required=True)
ap.add_argument("--what", choices=["train", "infer"], default="train")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batches", type=int, default=10, help="batches per timed repeat")
ap.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
ap.add_argument("--warmup", type=int, default=2, help="untimed batches before timing")
ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
ap.add_argument("--T", type=int, default=25)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--hidden", type=int, default=1000)
args = ap.parse_args()

# thread limits must be set before torch / numpy load their BLAS
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = str(args.threads)

import gzip  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(args.threads)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
torch.manual_seed(0)

T, B, NB = args.T, args.batch, args.batches
NIN, NHID, NOUT = 784, args.hidden, 10
BETA = 0.95
N_DATA_BATCHES = 64  # the first 64*B training images, cycled (throughput does not depend on data)


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def read_idx(path):
    """uint8 IDX file, raw or gzip (path or path + '.gz')."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path = path + ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        b = f.read()
    magic = struct.unpack(">I", b[:4])[0]
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b[4 + 4 * nd:], np.uint8).reshape(dims)


def load_train(d, n):
    try:
        X = read_idx(os.path.join(d, "train-images-idx3-ubyte")).reshape(-1, 784)[:n]
        y = read_idx(os.path.join(d, "train-labels-idx1-ubyte")).astype(np.int64)[:n]
    except FileNotFoundError as e:
        raise SystemExit(f"MNIST not found ({e.filename}); run: bash scripts/fetch_data.sh")
    return torch.from_numpy(X.copy()), torch.from_numpy(y.copy())


def build(lib):
    if lib == "snntorch":
        import snntorch as snn
        from snntorch import surrogate

        sg = surrogate.fast_sigmoid(slope=25)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(NIN, NHID)
                self.lif1 = snn.Leaky(beta=BETA, spike_grad=sg)
                self.fc2 = nn.Linear(NHID, NOUT)
                self.lif2 = snn.Leaky(beta=BETA, spike_grad=sg)

            def forward(self, x):  # x: [T,B,784]
                mem1 = self.lif1.init_leaky()
                mem2 = self.lif2.init_leaky()
                out = []
                for t in range(T):
                    spk1, mem1 = self.lif1(self.fc1(x[t]), mem1)
                    spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                    out.append(spk2)
                return torch.stack(out)  # [T,B,10]

        return Net(), snn.__version__

    if lib == "sj_m":
        from importlib.metadata import version

        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        def lif():
            return neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_reset=None,
                                  surrogate_function=surrogate.ATan(), step_mode="m")

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.seq = nn.Sequential(layer.Linear(NIN, NHID, step_mode="m"), lif(),
                                         layer.Linear(NHID, NOUT, step_mode="m"), lif())

            def forward(self, x):  # x: [T,B,784]
                functional.reset_net(self.seq)
                return self.seq(x)

        return Net(), version("spikingjelly")
    raise SystemExit("unknown lib " + lib)


def main():
    rss_import = rss_mib()
    Xtr, ytr = load_train(args.data, B * N_DATA_BATCHES)
    nb_data = len(Xtr) // B
    net, ver = build(args.lib)
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    state = {"i": 0}

    def next_batch():
        i = state["i"] % nb_data
        state["i"] += 1
        x = Xtr[i * B:(i + 1) * B].float().div_(255.0)
        return torch.bernoulli(x.unsqueeze(0).expand(T, -1, -1)), ytr[i * B:(i + 1) * B]

    def train_step():
        x, y = next_batch()
        loss = F.cross_entropy(net(x).sum(0), y)  # = snntorch.functional.ce_count_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.inference_mode():
            x, y = next_batch()
            return (net(x).sum(0).argmax(1) == y).sum()

    fn = train_step if args.what == "train" else infer_step
    for _ in range(args.warmup):
        fn()
    rss_model = rss_mib()
    walls, cpus = [], []
    for _ in range(args.repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(NB):
            fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    n = B * NB
    try:
        load1 = float(open("/proc/loadavg").read().split()[0])
    except OSError:
        load1 = float("nan")
    rec = {
        "lib": args.lib, "version": ver, "torch": torch.__version__, "what": args.what,
        "T": T, "batch": B, "hidden": NHID, "threads": torch.get_num_threads(),
        "batches_per_repeat": NB, "warmup": args.warmup,
        "samples_per_s_cpu": [round(n / c, 1) for c in cpus],
        "samples_per_s_wall": [round(n / w, 1) for w in walls],
        "median_cpu": round(n / statistics.median(cpus), 1),
        "median_wall": round(n / statistics.median(walls), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "rss_after_import_mib": round(rss_import, 1),
        "rss_before_timing_mib": round(rss_model, 1),
        "loadavg_1m": load1,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
    }
    print("RESULT " + json.dumps(rec), flush=True)


if __name__ == "__main__":
    sys.exit(main())
