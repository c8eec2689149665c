"""Any picture of a digit or a clothing item -> a 28x28 uint8 image as MNIST prepared its own.

MNIST's recipe (LeCun et al.): the ink is fitted into a 20x20 box keeping its
aspect ratio (anti-aliased, hence grey levels), then placed in a 28x28 field
so that its centre of mass lands on the field's centre (pixel (14, 14)). Before that, a picture
from outside is brought to MNIST's conventions: grey (transparent areas count
as background), light ink on a dark background (inverted when the border,
taken as the background, is light), background at 0 and the brightest ink at
255. Fashion-MNIST used the same 28x28 grey format; its items fill the field
rather than a 20x20 box, so `box=28` fits them the way that data set was made.

Pillow is imported when an image is read (the extra `formats`: `pip install -e '.[formats]'`).
Only a regular file is opened (a FIFO would block for ever). Size is checked
from the file's header before any pixel is decoded, so a 20,000 x 20,000
picture is refused at once instead of filling memory; a large one that passes
is decoded at a reduced scale where the format allows it (JPEG's draft) and
box-averaged down to WORK_SIDE before any float array is made, since the ink
ends up 20 pixels tall anyway. 16-bit grey levels are scaled to [0, 1], not clipped.
"""

from __future__ import annotations

import io
import os
import stat

import numpy as np

from bench.errors import install_hint

SIDE = 28  # the field
BOX = 20  # MNIST's box for the ink
MAX_PIXELS = 40_000_000  # width x height refused beyond this (a 6,000 x 6,000 photo passes)
WORK_SIDE = 1024  # a longer side is box-averaged down to at most this before any float math
WIDE = 65535.0  # the white of 16-bit (and Pillow's 32-bit "I") grey levels
INK = 0.1  # fraction of the brightest ink that counts as ink when cropping


class ImageError(ValueError):
    """A file that is not a usable picture: what was expected and what came."""


def _pil():
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(f"reading images needs Pillow: {install_hint('formats')} (or pip "
                          "install pillow)") from err
    return Image


def read_image(source: str | os.PathLike | bytes, name: str | None = None) -> np.ndarray:
    """A picture (a file, or its bytes) as float64 grey levels in [0, 1] (H, W), either polarity.

    At most WORK_SIDE pixels a side: a larger picture comes back box-averaged by the
    smallest integer factor that fits. Raises ImageError for a path that is not a
    regular file, data that is not an image Pillow reads, a truncated one, or one
    larger than MAX_PIXELS (checked from the header, before decoding). `name` is what
    messages call it (the path by default).
    """
    Image = _pil()
    if isinstance(source, bytes):
        path, opened = name or "image", io.BytesIO(source)
    else:
        path = name or os.fspath(source)
        opened = _open_regular(os.fspath(source), path)
    try:
        with opened, Image.open(opened) as im:  # reads the header only
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{path}: expected an image of at most {MAX_PIXELS:,} pixels, "
                                 f"got {w:,} x {h:,} = {w * h:,} (refused before decoding)")
            im.draft(None, (WORK_SIDE, WORK_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            im.load()  # a truncated file fails here
            return _grey(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: expected an image of at most {MAX_PIXELS:,} pixels, "
                         f"got one Pillow refuses as too large: {err}") from None
    except Image.UnidentifiedImageError:  # its message names Pillow's file object, not ours
        raise ImageError(f"{path}: expected a PNG or JPEG image, got data Pillow does not "
                         "recognise as a picture") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: expected a PNG or JPEG image, got a file Pillow cannot "
                         f"read: {err}") from None


def _open_regular(path: str, name: str) -> io.BufferedReader:
    """`path` opened for reading, refused unless it is a regular file.

    Opened non-blocking and checked by fstat before a byte is read: a FIFO would block
    a plain open for ever, and a device could be endless.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise ImageError(f"{name}: expected a picture file, got "
                         f"{'no such file' if isinstance(err, FileNotFoundError) else err}"
                         ) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device or other special file")
        raise ImageError(f"{name}: expected a regular picture file, got {kind}")
    return os.fdopen(fd, "rb")


def _grey(im) -> np.ndarray:
    """A decoded picture -> float64 grey levels in [0, 1] (H, W), at most WORK_SIDE a side.

    Transparent areas count as white paper; 16-bit grey levels g become g / 65535
    (Pillow's convert("L") would clip every one above 255 to white).
    """
    Image = _pil()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    elif im.mode.startswith("I"):  # "I;16", "I;16B", ..., "I": wide integer grey levels
        im = im.convert("I")
    elif im.mode not in ("L", "F"):  # "F": float grey levels, taken as they are
        im = im.convert("L")
    factor = -(-max(im.size) // WORK_SIDE)
    if factor > 1:
        im = im.reduce(factor)  # box average (alpha-weighted for RGBA), done in C
    if im.mode == "RGBA":
        paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(paper, im).convert("L")
    white = {"I": WIDE, "F": 1.0}.get(im.mode, 255.0)
    grey = np.asarray(im, dtype=np.float64) / white  # (H, W)
    return np.clip(grey, 0.0, 1.0)


def to_mnist(grey: np.ndarray, *, box: int = BOX) -> np.ndarray:
    """Grey levels in [0, 1] (H, W), either polarity -> uint8 (28, 28), MNIST's way.

    Raises ImageError when the picture holds no ink (one grey level throughout).
    """
    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise ImageError(f"expected a 2-D grey image, got shape {grey.shape}")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper: MNIST is light ink on black
        grey, background = 1.0 - grey, 1.0 - background
    ink = np.clip(grey - background, 0.0, None)  # (H, W), background at 0
    top = float(ink.max())
    if top <= 1.0 / 255.0:
        raise ImageError("expected a picture with a drawing on it, got a blank image "
                         f"(one grey level, {background:.2f}, throughout)")
    ink /= top
    rows = np.flatnonzero((ink > INK).any(axis=1))
    cols = np.flatnonzero((ink > INK).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # (h, w) the ink's bounding box
    fitted = _fit(crop, box)  # (<= box, <= box)
    return _centre_by_mass(fitted)


def _fit(crop: np.ndarray, box: int) -> np.ndarray:
    """Resize so the longer side is `box`, keeping the aspect ratio (anti-aliased)."""
    Image = _pil()
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL's (width, height)
    im = Image.fromarray(crop.astype(np.float32), mode="F")
    out = np.asarray(im.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)
    return np.clip(out, 0.0, 1.0)  # Lanczos rings slightly past the range


def _centre_by_mass(fitted: np.ndarray) -> np.ndarray:
    """Place `fitted` in a 28x28 field with its centre of mass at (14, 14), as MNIST's."""
    h, w = fitted.shape
    mass = fitted.sum()
    cy = (fitted.sum(axis=1) @ np.arange(h)) / mass
    cx = (fitted.sum(axis=0) @ np.arange(w)) / mass
    # MNIST's digits have their centre of mass at (14, 14) (mean over the test set: 13.98,
    # 14.01), i.e. half a pixel below and right of the field's middle (13.5, 13.5).
    top = int(round(SIDE / 2 - cy))  # where row 0 of `fitted` goes
    left = int(round(SIDE / 2 - cx))
    field = np.zeros((SIDE, SIDE), dtype=np.float64)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + h, SIDE), min(left + w, SIDE)
    field[r0:r1, c0:c1] = fitted[r0 - top:r1 - top, c0 - left:c1 - left]
    return np.round(field * 255.0).astype(np.uint8)  # (28, 28)


def load_image(path: str | os.PathLike, *, box: int = BOX) -> np.ndarray:
    """A picture file -> uint8 (28, 28), ready for `to_inputs` like the data set's images."""
    try:
        return to_mnist(read_image(path), box=box)
    except ImageError as err:
        if os.fspath(path) in str(err):
            raise
        raise ImageError(f"{os.fspath(path)}: {err}") from None
