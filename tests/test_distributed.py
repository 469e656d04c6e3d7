"""DDP on the CPU (2 processes, gloo): the virtual render dataset gives each training sample to exactly one
rank, and the verification and NME metrics reduce to the values one process computes on the same samples."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ddp_shards_samples_and_reduces_metrics_as_one_process(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "ddp_check.py"), str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = [json.loads((tmp_path / f"recognition_seen_rank{k}.json").read_text()) for k in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 6 and sorted(seen[0] + seen[1]) == list(range(12))
    for kind, keys in (("recognition", ("val/render_heldout/acc", "val/render_heldout/auc", "val/render_heldout/eer")),
                       ("landmarks", ("val/render_heldout/nme_inter_ocular", "val/render_heldout/nme_box",
                                      "val/render_heldout/auc@7_box"))):
        ddp = json.loads((tmp_path / f"{kind}_ddp.json").read_text())
        one = json.loads((tmp_path / f"{kind}_single.json").read_text())
        for k in keys:
            assert ddp[k] == pytest.approx(one[k], rel=1e-5, abs=1e-6), (kind, k, ddp[k], one[k])
