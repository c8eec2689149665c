"""Pictures from outside -> MNIST's 28x28 format, and `twinbench predict` on them.

The preprocessing is checked on drawn pictures for the properties MNIST's
recipe defines (ink in a 20x20 box, centre of mass at the centre, light ink on
black, either polarity or colour in), and on real test images made larger,
inverted and saved as JPEG: the model must mostly see the same digit.
"""

import os
import struct
import threading
import tracemalloc
import zlib

import numpy as np
import pytest
from conftest_data import require_real
from PIL import Image, ImageDraw, ImageFile

from bench import cli, datasets
from bench.datasets import images
from bench.datasets.images import ImageError, load_image, to_mnist
from bench.experiments import get_experiment
from bench.training import History, make_runner, save_checkpoint


def _seven(size=(300, 200), ink=0, paper=255, mode="L"):
    """A hand-drawn-looking 7, dark on light by default, off centre."""
    im = Image.new(mode, size, paper)
    d = ImageDraw.Draw(im)
    d.line([(40, 30), (140, 30), (70, 170)], fill=ink, width=14)
    return im


def _save(im, path):
    im.save(path)
    return path


def test_ink_fits_the_box_and_its_mass_sits_at_the_centre(tmp_path):
    out = load_image(_save(_seven(), tmp_path / "seven.png"))  # uint8 (28, 28)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0  # light on black
    rows = np.flatnonzero(out.max(axis=1) > 25)
    cols = np.flatnonzero(out.max(axis=0) > 25)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21)  # 20, plus blur
    mass = out.astype(np.float64)
    cy = mass.sum(axis=1) @ np.arange(28) / mass.sum()
    cx = mass.sum(axis=0) @ np.arange(28) / mass.sum()
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # where MNIST's digits have it


def test_polarity_colour_transparency_and_size_do_not_matter(tmp_path):
    base = load_image(_save(_seven(), tmp_path / "a.png")).astype(int)
    inverted = load_image(_save(_seven(ink=255, paper=0), tmp_path / "b.png")).astype(int)
    np.testing.assert_array_equal(inverted, base)
    blue_on_yellow = _seven(ink=(20, 20, 160), paper=(250, 240, 120), mode="RGB")
    colour = load_image(_save(blue_on_yellow, tmp_path / "c.png")).astype(int)
    assert np.abs(colour - base).max() <= 2
    rgba = Image.new("RGBA", (300, 200), (0, 0, 0, 0))  # black ink on nothing
    ImageDraw.Draw(rgba).line([(40, 30), (140, 30), (70, 170)], fill=(0, 0, 0, 255), width=14)
    np.testing.assert_array_equal(load_image(_save(rgba, tmp_path / "d.png")), base)
    small = _seven().resize((75, 50), Image.Resampling.LANCZOS)
    assert np.abs(load_image(_save(small, tmp_path / "e.png")).astype(int) - base).mean() < 12


def test_a_blank_picture_is_refused():
    with pytest.raises(ImageError, match="blank image"):
        to_mnist(np.full((40, 30), 0.8))


def _png_header(width, height):
    """A PNG whose header claims width x height (one row of data follows): cheap to write,
    huge if decoded."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side, message", [(20_000, "400,000,000|400000000"),
                                           (7_000, "7,000 x 7,000 = 49,000,000")])
def test_a_huge_picture_is_refused_before_decoding(tmp_path, monkeypatch, side, message):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(side, side))

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match=f"at most {images.MAX_PIXELS:,} pixels") as err:
        load_image(path)
    assert any(m in str(err.value) for m in message.split("|")), err.value


def test_files_that_are_no_picture_are_named(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImageError, match="notes.png: expected a PNG or JPEG image"):
        load_image(tmp_path / "notes.png")
    data = (_save(_seven(), tmp_path / "full.png")).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png: expected a PNG or JPEG image.*truncated"):
        load_image(tmp_path / "cut.png")


def test_a_16_bit_picture_is_scaled_not_clipped(tmp_path):
    # background 20000, ink 60000 of 65535: a real digit (clipping to 8 bits made it all white)
    wide = np.asarray(_seven(ink=255, paper=0), dtype=np.float64)  # (200, 300) 0 or 255
    wide = (20000 + wide / 255 * 40000).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    narrow = np.round(wide / 257.0).astype(np.uint8)  # the same picture in 8 bits
    Image.fromarray(narrow).save(tmp_path / "narrow.png")
    got = load_image(tmp_path / "deep.png").astype(int)
    assert got.max() == 255 and got[0].max() == 0
    assert np.abs(got - load_image(tmp_path / "narrow.png")).max() <= 1  # 8-bit rounding


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            load_image(fifo)
        except ImageError as err:
            outcome.append(str(err))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # blocked in open(): a writer arriving and leaving frees it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
        pytest.fail("load_image blocked on a FIFO")
    assert outcome == [f"{fifo}: expected a regular picture file, got a FIFO"]
    with pytest.raises(ImageError, match="expected a regular picture file, got a directory"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="missing.png: expected a picture file, got no such"):
        load_image(tmp_path / "missing.png")


def test_a_large_picture_is_reduced_before_any_float_math(tmp_path):
    # 6300 x 6300 is under MAX_PIXELS; full-size float64 copies took 0.9 GB (numpy's
    # allocations, which tracemalloc sees) and seconds. The result must be the same
    # digit as the picture drawn at a tenth of the size.
    big = Image.new("L", (6300, 6300), 0)
    ImageDraw.Draw(big).line([(800, 600), (5000, 600), (2400, 5600)], fill=255, width=400)
    big.save(tmp_path / "big.png")
    big.resize((630, 630), Image.Resampling.BOX).save(tmp_path / "small.png")
    del big
    tracemalloc.start()
    try:
        got = load_image(tmp_path / "big.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB traced while reading a 6300x6300 PNG"
    assert np.abs(got.astype(int) - load_image(tmp_path / "small.png")).mean() < 1.0


@pytest.fixture(scope="module")
def mlp_checkpoint(tmp_path_factory):
    """ci-mlp trained for one pass over 3,000 images, saved as `twinbench train` saves."""
    require_real("mnist")
    exp = get_experiment("ci-mlp")
    images, labels = datasets.load("mnist", "train")
    y = labels[:3000]
    stats = datasets.pixel_stats(images)
    x = datasets.to_inputs(images[:3000], stats=stats)  # (3000, 784) as training prepares it
    runner = make_runner("scratch", exp)
    runner.begin_epoch(0)
    for i in range(0, 3000, exp.batch_size):
        runner.train_step(x[i:i + exp.batch_size], y[i:i + exp.batch_size])
    path = tmp_path_factory.mktemp("predict") / "ci-mlp-scratch.npz"
    save_checkpoint(path, runner, History(exp.to_dict(), "scratch", []))
    return path


def test_mnist_digits_come_back_as_they_were(tmp_path):
    # MNIST's own images already follow the recipe: preparing them again changes little
    require_real("mnist")
    originals = datasets.load("mnist", "test")[0][:300]  # uint8 (300, 28, 28)
    again = np.stack([to_mnist(img / 255.0) for img in originals])
    diff = np.abs(again.astype(int) - originals.astype(int))
    print(f"MNIST test digits prepared again: mean abs diff {diff.mean():.3f} grey levels")
    assert diff.mean() < 1.0  # of 255


def test_real_digits_enlarged_inverted_as_jpeg_are_still_recognised(mlp_checkpoint, tmp_path):
    from bench.training.inference import load_twins

    twins = load_twins(mlp_checkpoint)
    originals = datasets.load("mnist", "test")[0][:200]  # uint8 (200, 28, 28)
    again = []
    for i, img in enumerate(originals):
        big = Image.fromarray(255 - img).resize((112, 112), Image.Resampling.BICUBIC)
        again.append(load_image(_save(big, tmp_path / f"{i}.jpg")))
    p_orig, _ = twins.probabilities(twins.inputs(originals))
    p_again, p_torch = twins.probabilities(twins.inputs(np.stack(again)))
    agree = np.mean(p_orig.argmax(1) == p_again.argmax(1))
    diff = np.abs(np.stack(again).astype(int) - originals.astype(int)).mean()
    print(f"200 test digits enlarged 4x, inverted, as JPEG: mean abs diff {diff:.2f} grey "
          f"levels, same class (a model after 3,000 images) for {agree:.1%}")
    assert diff < 10.0  # of 255: JPEG's ringing and two resamplings blur the strokes a little
    assert agree >= 0.95
    assert np.abs(p_again - p_torch).max() <= 1e-5  # the twins agree on every picture


def test_predict_prints_both_twins_top_three(mlp_checkpoint, tmp_path, capsys):
    path = _save(_seven(), tmp_path / "seven.png")
    assert cli.main(["predict", str(mlp_checkpoint), str(path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "scratch" in line and "torch" in line
             and "%" in line]
    assert len(lines) == 3 and lines[0].lstrip().startswith("1.")
    assert "largest scratch/torch difference" in out


def test_predict_bad_inputs_each_named_exit_1(mlp_checkpoint, tmp_path, capsys):
    good = _save(_seven(), tmp_path / "seven.png")
    (tmp_path / "text.png").write_text("hello")
    assert cli.main(["predict", str(mlp_checkpoint), str(tmp_path / "text.png"), str(good)]) == 1
    captured = capsys.readouterr()
    assert "text.png: expected a PNG or JPEG image" in captured.err
    assert "seven.png" in captured.out  # the good picture is still classified
    assert cli.main(["predict", str(mlp_checkpoint), str(good), "--experiment", "ci-cnn"]) == 1
    err = capsys.readouterr().err
    assert "does not fit experiment 'ci-cnn'" in err and "Traceback" not in err


def test_fashion_experiments_name_their_classes():
    assert datasets.FASHION_MNIST.class_names[9] == "Ankle boot"
    assert datasets.MNIST.class_names[7] == "7"


@pytest.mark.parametrize("size, refused", [((10, 10), False), ((50, 3), True), ((3, 50), True),
                                           ((99, 1), False)])
def test_the_pixel_limit_is_on_width_times_height(tmp_path, monkeypatch, size, refused):
    """MAX_PIXELS caps the total, width x height, not each side: with the cap at 100, a
    50 x 3 picture (every side under 100, 150 pixels) is refused, 10 x 10 is read."""
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    path = tmp_path / "p.png"
    Image.new("L", size, 255).save(path)
    if refused:
        with pytest.raises(ImageError, match=f"{size[0]} x {size[1]} = {size[0] * size[1]}"):
            images.read_image(path)
    else:
        assert images.read_image(path).shape == (size[1], size[0])
