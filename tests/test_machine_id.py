"""The machine id (issue 28 item 2): it keys what changes the numbers (the CPU model and
core count, the BLAS library and kernel, the numpy and torch builds, the thread settings)
and nothing else, so a new kernel build string or another host name on the same hardware
and builds is the same machine; and it is the one id of captions and record file names."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from test_report import _blas, _fp

from bench.results import machine, records, tables

_TEXT = st.text(min_size=1, max_size=30)

# Recorded, never keyed: the "Linux 6.18.44-fc-v669" against "-v1272".
UNKEYED = {
    "hostname": _TEXT,
    "os": st.sampled_from(["Linux 6.18.44-fc-v669", "Linux 6.18.44-fc-v1272"]) | _TEXT,
    "memory_gib": st.floats(1, 4096),
    "python": _TEXT,
    "governor": _TEXT,
    "git_commit": _TEXT,
    # BLAS's own count: scratch holds it to one thread once it has run, so it tells when a
    # fingerprint was taken, not the machine (scratch_threads is the setting)
    "numpy_blas": st.sampled_from([_blas(num_threads=1), _blas(num_threads=64)]),
    "load": st.fixed_dictionaries({"average": st.lists(st.floats(0, 99), min_size=3,
                                                       max_size=3),
                                   "other_cpu_share": st.floats(0, 1)}),
}

# Keyed: each a value other than _fp()'s.
KEYED = {
    "cpu": _TEXT.filter(lambda t: t != "AMD EPYC"),
    "cores": st.integers(1, 512).filter(lambda n: n != 2),
    "numpy": st.sampled_from(["2.3.0", "2.4.7"]),
    "numpy_build": st.sampled_from([{"blas": "accelerate"}, {"blas": "mkl 2025"}]),
    "torch": st.sampled_from(["2.12.0+cpu", "2.13.0+cu121"]),
    "torch_build": st.sampled_from([{**_fp()["torch_build"], "cpu_capability": "AVX2"},
                                    {**_fp()["torch_build"], "git_version": "00000000"},
                                    {**_fp()["torch_build"], "parallel_backend": "TBB"}]),
    "cuda": st.sampled_from(["NVIDIA H100", "NVIDIA A10"]),
    "torch_threads": st.integers(1, 512).filter(lambda n: n != 2),
    "scratch_threads": st.integers(1, 512).filter(lambda n: n != 2),
    "thread_env": st.dictionaries(st.sampled_from(machine.THREAD_ENV), _TEXT, min_size=1),
    "numpy_blas": st.sampled_from([_blas(architecture="Haswell"), _blas(internal_api="mkl"),
                                   _blas(version="0.3.28"),
                                   _blas(threading_layer="openmp")]),
}


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({}, optional=UNKEYED))
def test_the_id_is_stable_under_host_name_kernel_build_and_other_unkeyed_fields(changes):
    assert machine.machine_id(_fp(**changes)) == machine.machine_id(_fp())


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(KEYED)).flatmap(
    lambda key: st.tuples(st.just(key), KEYED[key])))
def test_the_id_changes_with_each_keyed_field(change):
    key, value = change
    assert machine.machine_id(_fp(**{key: value})) != machine.machine_id(_fp())


def test_every_keyed_field_is_exercised():
    assert set(KEYED) == {*machine.ID_FIELDS, "numpy_blas"}


def test_the_fingerprint_records_the_host_name_and_kernel_release():
    fp = machine.machine_fingerprint(None)
    assert fp["hostname"] and fp["os"].split()[0]
    assert fp["machine_id"] == machine.machine_id({**fp, "hostname": "elsewhere",
                                                  "os": fp["os"] + "-v2"})


def test_captions_and_file_names_use_one_id(tmp_path):
    """A record's file name and its table caption name the same machine, also for a record
    written under an older rule (the id is recomputed when it is read)."""
    path = records.append_record("ceiling", {"matmul": []}, tmp_path)
    rec = records.read_record(path)
    assert f"-{rec['machine']['machine_id']}-" in path.name
    assert f"[machine {rec['machine']['machine_id']}]" in tables.machine_label(rec["machine"])
    old = json.loads(path.read_text())
    old["machine"]["machine_id"] = "0ldrule0"
    old["machine"]["os"] += "-another-build"
    path.write_text(json.dumps(old))
    assert records.read_record(path)["machine"]["machine_id"] == rec["machine"]["machine_id"]
