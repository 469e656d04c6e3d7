import os
from pathlib import Path

import numpy as np
import pytest

from facebench.render.tools.import_ict import read_obj

ICT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "assets" / "ict_facekit" / "ict_facekit_light.npz"


def test_obj_reader_fan_splits_and_keeps_winding(tmp_path):
    p = tmp_path / "m.obj"
    p.write_text("# comment\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nusemtl A\n"
                 "f 1/1 2/1 3/1 4/1\nf 1//1 3//1 4//1\nf -4 -3 -2\n")
    v, f, poly = read_obj(p, with_faces=True)
    assert v.shape == (4, 3) and v[2].tolist() == [1, 1, 0]
    assert f.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 3], [0, 1, 2]]
    assert poly.tolist() == [0, 0, 1, 2]


def test_obj_reader_names_the_bad_line(tmp_path):
    p = tmp_path / "bad.obj"
    p.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 x\n")
    with pytest.raises(ValueError, match=r"bad.obj:4: malformed face"):
        read_obj(p, with_faces=True)


@pytest.mark.skipif(not os.environ.get("FACEBENCH_ICT_REPO"), reason="set FACEBENCH_ICT_REPO to an ICT-FaceKit clone")
def test_import_reproduces_the_reference_file(tmp_path):
    from facebench.render.tools.import_ict import import_ict

    if not ICT_REFERENCE.is_file():
        pytest.skip(f"reference file not found at {ICT_REFERENCE}")
    built = np.load(import_ict(os.environ["FACEBENCH_ICT_REPO"], tmp_path / "ict.npz"))
    ref = np.load(ICT_REFERENCE)
    for key in ("vertices", "faces", "identity_basis", "expression_basis", "expression_names", "landmarks68",
                "region_names", "vertex_region", "face_region"):
        assert np.array_equal(built[key], ref[key]), key
