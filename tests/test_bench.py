"""The benchmark commands run and print their lines (no timing is asserted)."""
from facebench.bench import BenchConfig, bench_render, bench_train


def test_bench_render_and_train_run(tmp_path):
    lines = bench_render(BenchConfig(batch=2, repeats=1, head="procedural", devices="cpu"))
    assert lines[0].startswith("render cpu 112x112 aligned: ") and lines[0].split(": ")[1].split()[1] == "img/s"
    assert "supersample" not in lines[0]
    (line, _) = bench_render(BenchConfig(batch=2, repeats=1, head="procedural", devices="cpu", supersample=1))
    assert "(batch 2, head procedural, supersample 1; per batch best " in line
    line = bench_train(BenchConfig(what="train", batch=4, steps=1, source="memory", classes=10))
    assert line.startswith("train cpu tiny 32 batch 4 from memory: ")
    from facebench.generate import GenerateConfig, generate

    ids = generate(GenerateConfig(layout="identity_folders", n=8, depth=2, out=str(tmp_path / "ids"), head="procedural",
                                  chunk=8, batch=8))
    line = bench_train(BenchConfig(what="train", batch=4, steps=1, source=str(ids), classes=4, workers=0))
    assert "from disk: " in line


def test_bench_landmarks_runs():
    from facebench.bench import bench_landmarks

    (line,) = bench_landmarks(BenchConfig(what="landmarks", batches="1", stacks="1", repeats=1, devices="cpu"))
    assert line.startswith("landmarks cpu FAN 1 stack(s) width 256 (6.25M params) 32 batch 1: ")
    (line,) = bench_landmarks(BenchConfig(what="landmarks", batches="1", stacks="1", widths="64", repeats=1,
                                          devices="cpu"))
    assert line.startswith("landmarks cpu FAN 1 stack(s) width 64 (0.40M params) 32 batch 1: ")


def test_bench_landmark_data_runs_both_ways():
    from facebench.bench import bench_landmark_data

    for render_on in ("worker", "device"):  # "device" is the CPU here: the hook path runs all the same
        line = bench_landmark_data(BenchConfig(what="landmark_data", batch=2, steps=1, workers=0, head="procedural",
                                               devices="cpu", render_on=render_on))
        assert line.startswith(f"landmark_data cpu render_on={render_on} batch 2 workers 0: ")


def test_bench_parsing_runs():
    from facebench.bench import bench_parsing

    lines = bench_parsing(BenchConfig(what="parsing", batches="1", parsing_sizes="64", repeats=1, devices="cpu"))
    assert [ln.split(" (")[0] for ln in lines] == ["parsing cpu unet_resnet w64 64px", "parsing cpu unet_resnet tiny 64px",
                                                   "parsing cpu bisenet w64 64px", "parsing cpu bisenet tiny 64px"]
    assert all(ln.endswith(" img/s") and "M params) 32 batch 1: " in ln for ln in lines)


def test_bench_expression_runs():
    from facebench.bench import bench_expression

    lines = bench_expression(BenchConfig(what="expression", batches="2", repeats=1, devices="cpu"))
    assert [ln.split(" (")[0] for ln in lines] == ["expression cpu resnet w32 48px grey", "expression cpu resnet w32 112px "
                                                   "colour", "expression cpu resnet tiny 48px grey",
                                                   "expression cpu derl generator w32 64px"]
    assert all(ln.endswith(" img/s") and " 32 batch 2: " in ln for ln in lines)


def test_bench_vec2face_runs():
    from facebench.bench import bench_vec2face

    lines = bench_vec2face(BenchConfig(what="vec2face", batches="1", repeats=1, devices="cpu"))
    assert [ln.split(" (")[0] for ln in lines] == ["vec2face cpu released size", "vec2face cpu tiny"]
    assert lines[0].split("(")[1].startswith("174.13M params") and all(ln.endswith(" img/s") for ln in lines)


def test_bench_gan_runs():
    from facebench.bench import bench_gan

    lines = bench_gan(BenchConfig(what="gan", batches="2", repeats=1, devices="cpu"))
    assert [ln.split(" (")[0] for ln in lines] == ["gan cpu gpu size", "gan cpu tiny"]
    assert lines[1].split("(")[1].startswith("1.36M params") and all(ln.endswith(" img/s") for ln in lines)
