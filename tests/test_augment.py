import torch

from deepstudy.data import augment
from deepstudy.repro import generator


def _batch():
    x = torch.zeros(6, 1, 8, 8)
    x[:, :, 2:4, 2:4] = 1.0
    return x


def test_crop_is_a_shift_that_keeps_content():
    x = _batch()
    out = augment.random_crop(2)(x, generator(0))
    assert out.shape == x.shape
    assert torch.all(out.sum((1, 2, 3)) <= 4) and torch.any(out.sum((1, 2, 3)) > 0)
    assert not all(torch.equal(o, x[0]) for o in out)  # at least one example moved


def test_crop_and_flip_are_deterministic_per_generator():
    x = torch.rand(8, 3, 10, 10)
    ops = augment.compose(augment.parse(["crop:3", "hflip", "rotate:15", "erase:0.5", "affine"]))
    assert torch.equal(ops(x, generator(5)), ops(x, generator(5)))
    assert not torch.equal(ops(x, generator(5)), ops(x, generator(6)))


def test_hflip_flips_about_half():
    x = torch.arange(4.0).view(1, 1, 1, 4).repeat(200, 1, 1, 1)
    out = augment.flip(-1)(x, generator(0))
    flipped = (out[:, 0, 0, 0] == 3).float().mean()
    assert 0.35 < flipped < 0.65 and torch.all((out[:, 0, 0, 0] == 0) | (out[:, 0, 0, 0] == 3))


def test_erase_zeroes_a_rectangle():
    x = torch.ones(50, 1, 16, 16)
    out = augment.random_erasing(1.0)(x, generator(0))
    zeros = (out == 0).sum((1, 2, 3)).float() / 256
    assert torch.all(zeros >= 0.003) and torch.all(zeros <= 0.5)


def test_small_rotation_preserves_mass():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1
    out = augment.random_affine(10)(x, generator(0))
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.1)
