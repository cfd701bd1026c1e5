"""Is the clipping ablation's clipped arm (asgd, c -> inf) the claim's vanilla run, bit for bit?

Usage: PYTHONPATH=src python pilots/ablation_reuse_check.py CLAIM SCALE (first select point).
"""

import sys

import pandas as pd

from clipasgd.claims import _speedup
from clipasgd.claims.base import Run, unclip_claim_arms
from clipasgd.pipeline import claim_config, load_config
from clipasgd.time_to_target import Setting

claim, scale = sys.argv[1], sys.argv[2]
cfg = claim_config(load_config(), claim, scale)
cfg["problem"] = {**cfg["problem"], "data_dir": "/work/main/data/raw"}
claim_run = Run(cfg, _speedup.ARMS, progress=lambda _: None)
abl_cfg = _speedup._without_clipping(cfg)
abl_run = Run(abl_cfg, unclip_claim_arms(_speedup.ARMS), progress=lambda _: None)
eta = cfg["lrs"][0]
van = _speedup._points("select", cfg["D"][0], Setting("vanilla", eta), 1)[0]
clp = _speedup._points("select", cfg["D"][0], Setting("clipped", eta, c=abl_cfg["clip"][0]), 1)[0]
a = _speedup._run(claim_run, van, 0)["select"]
b = _speedup._run(abl_run, clp, 0)["select"]
cols = [c for c in a.columns if c not in ("algorithm", "c")]
pd.testing.assert_frame_equal(a[cols], b[cols], check_exact=True)
print(claim, scale, "identical except", [c for c in a.columns if not a[c].equals(b[c])],
      len(a), "rows")
n_sel = len(cfg["lrs"]) * len(cfg["D"]) * cfg["selection_seeds"]
print("ablation clipped points (select + fresh):", n_sel, "+", len(cfg["D"]) * cfg["fresh_seeds"])
