import json

from omegaconf import OmegaConf

from facebench.report import ReportConfig, collect, report


def _run(root, name, seed, width, acc):
    d = root / name
    d.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"seed": seed, "data": {"width": width}}), d / "config.yaml")
    (d / "final_metrics.json").write_text(json.dumps({"val/x/acc": acc}))


def test_report_groups_seeds_and_states_provenance(tmp_path):
    for i, (seed, w, acc) in enumerate([(1, 50, 0.6), (2, 50, 0.7), (1, 100, 0.8), (2, 100, 0.9)]):
        _run(tmp_path / "runs", f"r{i}", seed, w, acc)
    groups = collect(tmp_path / "runs", "val/x/acc", ["data.width"])
    assert sorted(groups) == [(50,), (100,)] and sorted(v for _, v in groups[(100,)]) == [0.8, 0.9]
    argv = [f"runs={tmp_path / 'runs'}", f"out={tmp_path / 'out' / 'wd'}", "rows=data.width", "metric=val/x/acc"]
    md = report(ReportConfig(runs=str(tmp_path / "runs"), out=str(tmp_path / "out" / "wd"), rows="data.width",
                             metric="val/x/acc"), argv)
    # mean +- sample std of (60, 70) and (80, 90): 65.00 +- 7.07, 85.00 +- 7.07
    assert "| 50 | 65.00 ± 7.07 | 2 |" in md and "| 100 | 85.00 ± 7.07 | 2 |" in md
    assert "python -m facebench.report" in md and "seeds [1, 2]" in md
    assert (tmp_path / "out" / "wd.png").stat().st_size > 1000
