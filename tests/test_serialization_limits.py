"""scratch.load against hostile and damaged files, and load_state_dict's all-or-nothing rule.

Every .npy header is checked before any data is read (size, dtype kind, a
total cap), keys must nest, and whatever the bytes, the outcome is a
ValueError naming the file or an exact round trip (Hypothesis fuzzes both
byte flips and headers).
"""

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scratch
from scratch import serialization

# tmp_path is shared by a test's examples; each example rewrites its files first.
TMP_PATH_OK = [HealthCheck.function_scoped_fixture]


def npy(shape, dtype, data: bytes | None = None, fortran: bool = False) -> bytes:
    """.npy bytes with any header: `data` defaults to what the header asks for."""
    buf = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype)) if not isinstance(dtype, str) \
        else dtype
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    if data is None:
        data = bytes(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return buf.getvalue() + data


def marker() -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(serialization.FORMAT))
    return buf.getvalue()


def write_zip(path, members: dict[str, bytes], compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        zf.writestr("__format__.npy", marker())
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_compressed_bomb_is_refused_from_its_header_before_any_data_is_read(tmp_path):
    path = write_zip(tmp_path / "bomb.npz", {"w.npy": npy((1 << 20,), np.float64)},
                     compress=zipfile.ZIP_DEFLATED)  # 8 MiB of zeros in a few KiB
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb.npz: its arrays hold over 1000000 bytes "
                                             r"\(by member 'w.npy'\), more than max_bytes"):
            scratch.load(path, max_bytes=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the 8 MiB were never allocated
    assert serialization.DEFAULT_MAX_BYTES == 2**30
    assert scratch.load(path, max_bytes=1 << 24)["w"].shape == (1 << 20,)


@pytest.mark.parametrize("shape", [(10**12,), (2**28,), (3, -1)])
def test_a_header_declaring_more_than_the_member_holds_is_a_value_error(tmp_path, shape):
    path = write_zip(tmp_path / "lie.npz", {"w.npy": npy(shape, np.float64, bytes(16))})
    with pytest.raises(ValueError, match=r"lie.npz: member 'w.npy'"):
        scratch.load(path)


@pytest.mark.parametrize("order", [["a", "a/b"], ["a/b", "a"]])
def test_keys_that_cannot_nest_are_refused(tmp_path, order):
    path = write_zip(tmp_path / "k.npz", {f"{k}.npy": npy((2,), np.float32) for k in order})
    with pytest.raises(ValueError, match=r"'a' is both an array and a group of arrays"):
        scratch.load(path)


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = write_zip(tmp_path / "raw.npz", {"w.npy": npy((2,), np.float32), "notes": b"hi"})
    with pytest.raises(ValueError, match=r"raw.npz: member 'notes' is not a .npy array"):
        scratch.load(path)


@pytest.mark.parametrize("dtype", ["<U5", "|S4", [("a", "<f4")], "<M8[s]"],
                         ids=["str", "bytes", "structured", "datetime"])
def test_non_numeric_arrays_are_refused(tmp_path, dtype):
    path = write_zip(tmp_path / "s.npz", {"w.npy": npy((3,), np.dtype(dtype))})
    with pytest.raises(ValueError, match=r"s.npz: member 'w.npy' has dtype"):
        scratch.load(path)


def test_load_state_dict_checks_every_key_before_assigning_any(rng):
    model = scratch.Sequential(*[scratch.Linear(3, 3, rng=rng) for _ in range(4)])  # 8 tensors
    before = model.state_dict()
    state = dict(before)
    state = {k: v + 1 for k, v in state.items()}
    last = list(state)[-1]
    state[last] = np.full(state[last].shape, "x")  # a string array on the last key
    with pytest.raises(ValueError, match=rf"non-numeric dtype for {last}: <U1"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} was changed")


# --- fuzzing: every outcome a ValueError or an exact round trip ------------------------

STATE = {"model": {"0.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
                   "0.bias": np.array([1.5, -2.0, 0.0]),
                   "1.num_batches_tracked": np.array(7, dtype=np.int64)},
         "flags": np.array([True, False]), "meta": np.array('{"epoch": 3}')}


def assert_round_trip(back: dict, want: dict = STATE) -> None:
    assert list(back) == list(want)
    for k, v in want.items():
        if isinstance(v, dict):
            assert_round_trip(back[k], v)
        else:
            assert back[k].dtype == v.dtype and back[k].shape == v.shape
            np.testing.assert_array_equal(back[k], v)


@settings(max_examples=60, deadline=None, suppress_health_check=TMP_PATH_OK)
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)),
                      min_size=1, max_size=4))
def test_random_byte_flips_give_a_value_error_or_the_exact_state(tmp_path, flips):
    path = tmp_path / "c.npz"
    scratch.save(STATE, path)
    data = bytearray(path.read_bytes())
    for where, xor in flips:
        data[where % len(data)] ^= xor
    path.write_bytes(bytes(data))
    try:
        back = scratch.load(path)
    except ValueError as err:
        assert str(path) in str(err)
    else:
        assert_round_trip(back)


DESCRS = ["<f4", "<f8", ">f8", "<i8", "|u1", "|b1", "<c16", "|O", "<U3", "|S2", "<M8[s]",
          "<f4 junk", [("a", "<f4")]]


@settings(max_examples=80, deadline=None, suppress_health_check=TMP_PATH_OK)
@given(descr=st.sampled_from(DESCRS),
       shape=st.lists(st.integers(-2, 10**13) | st.integers(0, 4), max_size=3),
       fortran=st.booleans(), nbytes=st.integers(0, 64))
def test_random_headers_give_a_value_error_or_the_exact_array(tmp_path, descr, shape,
                                                              fortran, nbytes):
    payload = bytes(range(nbytes))
    try:
        member = npy(shape, descr, payload, fortran)
    except (TypeError, ValueError):  # a header numpy itself cannot write
        return
    path = write_zip(tmp_path / "h.npz", {"w.npy": member})
    try:
        back = scratch.load(path)
    except ValueError as err:
        assert str(path) in str(err)
        return
    dtype = np.dtype(descr)
    assert dtype.kind in "biufc" or (dtype.kind == "U" and shape == [])  # a single string
    want = np.frombuffer(payload, dtype).reshape(shape, order="F" if fortran else "C")
    assert back["w"].dtype == dtype and back["w"].shape == tuple(shape)
    np.testing.assert_array_equal(back["w"], want)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_max_bytes_caps_the_total_not_each_member(tmp_path, suffix):
    """Three arrays of 800 bytes: each under a 1,000-byte cap, 2,400 in all (plus the .npz's
    format string). The cap is on the total: one byte less refuses the file, the total
    reads it."""
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    path = tmp_path / f"three{suffix}"
    arrays = {k: np.full(100, i, np.float64) for i, k in enumerate("abc")}  # 800 bytes each
    scratch.save(arrays, path)
    total = 2_400 + (np.array(serialization.FORMAT).nbytes if suffix == ".npz" else 0)
    for cap in (1_000, total - 1):
        with pytest.raises(ValueError, match="more than max_bytes"):
            scratch.load(path, max_bytes=cap)
    back = scratch.load(path, max_bytes=total)
    assert all(np.array_equal(back[k], v) for k, v in arrays.items())
