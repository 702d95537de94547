import threading

import numpy as np
import pytest
import torch

from glowgan import hdrio
from glowgan.data.batches import BatchSource

COUNT = 12  # images; batches of 5 cross epoch boundaries


@pytest.fixture
def folder(tmp_path):
    codes = np.random.default_rng(0).integers(0, 256, size=(COUNT, 8, 16, 3), dtype=np.uint8)
    for i, image in enumerate(codes):
        hdrio.write_ldr(tmp_path / "ldr" / f"{i:03d}.png", image)
    return tmp_path


def _source(folder, *, streaming, **kwargs):
    return BatchSource(folder, resolution=(8, 16), seed=3, max_preload_bytes=0 if streaming else 1 << 20, **kwargs)


def _decoding_threads():
    return [t for t in threading.enumerate() if t.name.startswith("glowgan-batches") and t.is_alive()]


# (first, count): one process's steps, a jump forward (resume), a jump back, then a torchrun rank's stride
CALLS = [(0, 5), (5, 5), (10, 5), (15, 5), (41, 5), (46, 5), (7, 5), (12, 3), (18, 3), (24, 3), (30, 3), (30, 3)]


def test_streaming_gives_the_preloaded_batches_with_the_same_flips(folder):
    with _source(folder, streaming=False) as preloaded, _source(folder, streaming=True) as streaming:
        assert preloaded._images is not None and streaming._images is None
        flips = [torch.Generator().manual_seed(7) for _ in range(3)]
        for first, count in CALLS:
            want = preloaded.batch(first, count, flip_rng=flips[0])
            got = streaming.batch(first, count, flip_rng=flips[1])
            # what the synchronous reader returned: decoded images in order, then flips drawn from the generator
            reference = torch.stack([streaming.dataset[i] for i in streaming.indices(first, count).tolist()])
            flip = torch.rand(count, generator=flips[2]) < 0.5
            reference = torch.where(flip.view(-1, 1, 1, 1), reference.flip(3), reference)
            assert got.dtype == torch.float32 and got.shape == (count, 3, 8, 16)
            assert torch.equal(got, want) and torch.equal(got, reference), (first, count)
        assert flip.any() and not flip.all()
    with _source(folder, streaming=True) as resumed:  # a fresh source (a resumed run) starting anywhere
        assert torch.equal(resumed.batch(46, 5), preloaded.batch(46, 5))


def test_prefetch_follows_the_callers_stride(folder):
    with _source(folder, streaming=True, prefetch=2) as source:
        source.batch(0, 5)
        assert [(p.first, p.count) for p in source._pending] == [(5, 5), (10, 5)]
        source.batch(5, 5)
        assert [(p.first, p.count) for p in source._pending] == [(10, 5), (15, 5)]
        source.batch(3, 3)  # a rank of a 2-process run of batch 6 at a new position
        source.batch(9, 3)
        assert [(p.first, p.count) for p in source._pending] == [(15, 3), (21, 3)]
    with _source(folder, streaming=True, prefetch=0) as source:
        source.batch(0, 5)
        assert not source._pending


def test_a_corrupt_image_fails_the_step_that_needs_it_naming_the_file(folder):
    with _source(folder, streaming=True, prefetch=2) as source:
        name = source.dataset.names[source.indices(5, 5)[2]]
        path = folder / "ldr" / name
        path.write_bytes(path.read_bytes()[:60])  # the header (checked when opened) survives, the pixels do not
        source.batch(0, 5)  # decodes the next batch in the background: its error waits for its step
        with pytest.raises(hdrio.ImageIOError, match=rf"{name}: image data is truncated or corrupt"):
            source.batch(5, 5)


def test_no_thread_is_left_running(folder):
    _source(folder, streaming=False).batch(0, 5)
    assert not _decoding_threads()  # preloading closes its threads
    source = _source(folder, streaming=True, threads=2)
    source.batch(0, 5)
    assert _decoding_threads()
    source.close()
    assert not _decoding_threads()
    source.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed; make a new one"):
        source.batch(5, 5)
    with _source(folder, streaming=True) as source:
        source.batch(0, 5)
    assert not _decoding_threads()


@pytest.mark.parametrize("progress", [True, False])
def test_preloading_shows_a_bar_only_when_asked(folder, capsys, progress):
    with _source(folder, streaming=False, progress=progress):
        pass
    assert ("loading images" in capsys.readouterr().err) == progress
