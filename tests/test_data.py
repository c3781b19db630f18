"""Files a user has: whatever their bytes, a damaged file is a DataError that names it, before training."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

from jaxacts import data as D
from jaxacts._src.data import _load_cifar_batch


def _idx(dtype_code: int, array: np.ndarray) -> bytes:
    return bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _mnist_folder(path, images: np.ndarray, labels: np.ndarray, image_code=0x08, label_code=0x08):
    path.mkdir()
    for split in ("train", "t10k"):
        (path / f"{split}-images-idx3-ubyte").write_bytes(_idx(image_code, images))
        (path / f"{split}-labels-idx1-ubyte").write_bytes(_idx(label_code, labels))
    return str(path)


def test_idx_labels_must_be_integers_and_pixels_finite(tmp_path):
    images = np.zeros((2, 4, 4), np.uint8)
    ok = _mnist_folder(tmp_path / "ok", images, np.array([3, 7], np.uint8))
    assert D.load_dataset("mnist", data_dir=ok).y_train.tolist() == [3, 7]
    floats = _mnist_folder(tmp_path / "float_labels", images, np.array([3.7, 1.0], ">f4"), label_code=0x0D)
    with pytest.raises(D.DataError, match="t.*-labels-idx1-ubyte: field 'labels' must hold integer labels"):
        D.load_dataset("mnist", data_dir=floats)
    nan = _mnist_folder(tmp_path / "nan_pixels", np.full((2, 4, 4), np.nan, ">f4"), np.array([3, 7], np.uint8),
                        image_code=0x0D)
    with pytest.raises(D.DataError, match="images-idx3-ubyte: field 'images' holds non-finite pixels"):
        D.load_dataset("mnist", data_dir=nan)


# A mutated dtype can leave numpy a half-built array whose deallocation reports an internal error ("Exception
# ignored"): printed by Python, not raised; the load itself is a DataError.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_every_mutant_of_a_cifar_batch_loads_or_is_a_data_error(tmp_path):
    rng = np.random.default_rng(0)
    batch = pickle.dumps({b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]},
                         protocol=2)
    path = tmp_path / "data_batch_1"
    kinds = set()
    for _ in range(400):  # a few flipped bytes each, mostly in the pickle's opcodes and lengths (the first bytes)
        mutant = bytearray(batch)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, 300)) if rng.random() < 0.8 else int(rng.integers(0, len(mutant)))
            mutant[at] = int(rng.integers(0, 256))
        path.write_bytes(bytes(mutant))
        try:
            _load_cifar_batch(str(path))
        except D.DataError as e:
            assert str(e).startswith(str(path)), e
            kinds.add(str(e).split(": ")[2] if str(e).count(": ") >= 2 else "")
    assert len(kinds) >= 2  # the mutants reach more than one kind of failure
