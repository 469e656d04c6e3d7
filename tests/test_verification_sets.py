import os
import pickle

import cv2
import numpy as np
import pytest

from datamodules.readers.images import DatasetError
from datamodules.readers.verification import parse_lfw_pairs, parse_pair_list, read_bin, read_pairs
from facebench.check import check


def _jpeg(seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_bin_in_insightface_layout(tmp_path, protocol):
    # insightface: pickle.dump((bins, issame_list), f, protocol=pickle.HIGHEST_PROTOCOL); older files were
    # written at protocol 2, where Python 3 pickles bytes through _codecs.encode.
    bins = [_jpeg(i) for i in range(8)]
    issame = [True, False, True, False]
    p = tmp_path / "lfw.bin"
    with open(p, "wb") as fh:
        pickle.dump((bins, issame), fh, protocol=protocol)
    ps = read_bin(p)
    assert len(ps) == 4 and ps.issame.tolist() == issame
    a, b, same = ps.pair(1)
    assert a.shape == (112, 112, 3) and same is False
    assert np.array_equal(a, cv2.cvtColor(cv2.imdecode(np.frombuffer(bins[2], np.uint8), 1), cv2.COLOR_BGR2RGB))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_bin_refuses_malicious_pickle_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.bin"
    with open(p, "wb") as fh:
        pickle.dump(([_Evil(marker), _jpeg(0)], [True]), fh, protocol=2)
    with pytest.raises(DatasetError, match=r"evil.bin: refusing to unpickle global (posix|os)\.system"):
        read_bin(p)
    assert not marker.exists()
    name, report = check(p, progress=False)
    assert name == "verification_bin" and "refusing" in report.problems[0]


def test_bin_count_mismatch_and_bad_image(tmp_path):
    p = tmp_path / "bad.bin"
    with open(p, "wb") as fh:
        pickle.dump(([_jpeg(0)] * 3, [True, False]), fh)
    with pytest.raises(DatasetError, match="3 images for 2 pairs"):
        read_bin(p)
    with open(p, "wb") as fh:
        pickle.dump(([_jpeg(0), b"garbage"], [True]), fh)
    name, report = check(p, progress=False)
    assert report.problems == [f"{p} image 1: image bytes do not decode"]


def test_lfw_pairs_fixture(fixtures_dir):
    pairs, folds = parse_lfw_pairs(fixtures_dir / "lfw" / "pairs.txt")
    assert folds == 10 and len(pairs) == 6000
    assert pairs[0] == ("Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg", True)
    assert pairs[300][2] is False and pairs[299][2] is True and pairs[600][2] is True
    assert sum(s for _, _, s in pairs) == 3000
    assert pairs[300] == ("Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg", "Dean_Barker/Dean_Barker_0001.jpg", False)


def test_lfw_pairs_errors(tmp_path):
    p = tmp_path / "pairs.txt"
    p.write_text("1 2\nA 1 2\nB 1 3\nC 1 D 1\n")
    with pytest.raises(DatasetError, match="promises 1 x 2 x 2 pairs, found 3"):
        parse_lfw_pairs(p)
    p.write_text("1 1\nC 1 D 1\nA 1 2\n")
    with pytest.raises(DatasetError, match=r"pairs.txt:2: a match line was expected"):
        parse_lfw_pairs(p)


def test_generic_list_and_check_reports_missing_images(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    lst = tmp_path / "hadrian_pairs.txt"
    lst.write_text("a.jpg b.jpg 1\na.jpg c.jpg 0\nb.jpg missing.jpg 0\n")
    assert parse_pair_list(lst)[1] == ("a.jpg", "c.jpg", False)
    assert len(read_pairs(lst)) == 3
    name, report = check(lst, progress=False)
    assert name == "verification_pairs"
    assert report.problems == [f"{tmp_path / 'missing.jpg'}: listed in hadrian_pairs.txt but missing"]
    lst.write_text("a.jpg b.jpg yes\n")
    with pytest.raises(DatasetError, match=r"hadrian_pairs.txt:1: expected 'path1 path2 label'"):
        parse_pair_list(lst)
