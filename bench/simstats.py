"""Spike statistics helpers (copied from shared/anchors/sim/simstats.py; no simulator imports here).

spike_stats(i, t, N, Ne, T, t_start=0.0) -> dict with
  rate_exc_hz, rate_inh_hz, rate_all_hz  (spikes in [t_start, T) / (n * (T - t_start)))
  cv_isi_mean_{all,exc,inh}  mean over neurons with >= 3 spikes in the window of
                             CV_i = std(ISI_i) / mean(ISI_i)  (population std, ddof=0)
  cv_n_neurons               how many neurons entered the CV mean
  cv_isi_pooled              CV of all ISIs pooled over neurons
Times are in seconds.
"""
import json
import resource

import numpy as np


def spike_stats(i, t, N, Ne, T, t_start=0.0):
    i = np.asarray(i, dtype=np.int64)
    t = np.asarray(t, dtype=np.float64)
    keep = t >= t_start
    i, t = i[keep], t[keep]
    win = T - t_start
    Ni = N - Ne
    counts = np.bincount(i, minlength=N)
    out = {
        "window_s": [t_start, T],
        "spikes_in_window": int(len(i)),
        "rate_all_hz": float(counts.sum() / (N * win)),
        "rate_exc_hz": float(counts[:Ne].sum() / (Ne * win)),
        "rate_inh_hz": float(counts[Ne:].sum() / (Ni * win)) if Ni > 0 else None,
    }
    order = np.lexsort((t, i))
    i_s, t_s = i[order], t[order]
    same = i_s[1:] == i_s[:-1]
    isi = np.diff(t_s)[same]
    who = i_s[1:][same]
    n = np.bincount(who, minlength=N).astype(np.float64)
    s1 = np.bincount(who, weights=isi, minlength=N)
    s2 = np.bincount(who, weights=isi * isi, minlength=N)
    ok = n >= 2  # >= 3 spikes
    mean = np.where(ok, s1 / np.maximum(n, 1), np.nan)
    var = np.where(ok, s2 / np.maximum(n, 1) - mean ** 2, np.nan)
    cv = np.sqrt(np.maximum(var, 0.0)) / mean
    idx = np.arange(N)
    for name, sel in (("all", ok), ("exc", ok & (idx < Ne)), ("inh", ok & (idx >= Ne))):
        out[f"cv_isi_mean_{name}"] = float(np.nanmean(cv[sel])) if sel.any() else None
    out["cv_n_neurons"] = int(ok.sum())
    out["cv_isi_pooled"] = float(isi.std() / isi.mean()) if len(isi) > 1 else None
    return out


def events(i_spk, outdeg):
    """Exact number of synaptic events: sum of out-degree over all spikes."""
    return int(np.asarray(outdeg, dtype=np.int64)[np.asarray(i_spk, dtype=np.int64)].sum())


def self_maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(rec, path=None):
    line = json.dumps(rec, sort_keys=True)
    print("RESULT " + line, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
