"""GAN losses and R1 against known values."""

from __future__ import annotations

import math

import pytest
import torch

from glowgan.losses import (
    d_hinge_loss,
    d_logistic_loss,
    g_hinge_loss,
    g_nonsaturating_loss,
    r1_penalty,
)
from glowgan.models import Discriminator


def test_logistic_losses_at_zero_logits() -> None:
    zeros = torch.zeros(5, 1)
    torch.testing.assert_close(d_logistic_loss(zeros, zeros), torch.tensor(2 * math.log(2)))
    torch.testing.assert_close(g_nonsaturating_loss(zeros), torch.tensor(math.log(2)))


def test_logistic_losses_known_values() -> None:
    real = torch.tensor([[2.0], [-1.0]])
    fake = torch.tensor([[0.5], [-3.0]])
    expected_d = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2 + (
        math.log1p(math.exp(0.5)) + math.log1p(math.exp(-3.0))
    ) / 2
    torch.testing.assert_close(d_logistic_loss(real, fake), torch.tensor(expected_d))
    expected_g = (-math.log(1 / (1 + math.exp(-0.5))) - math.log(1 / (1 + math.exp(3.0)))) / 2
    torch.testing.assert_close(g_nonsaturating_loss(fake), torch.tensor(expected_g))
    # a confident, correct D has a small loss; the G loss does not saturate when D wins
    assert d_logistic_loss(torch.full((3, 1), 20.0), torch.full((3, 1), -20.0)) < 1e-6
    logits = torch.full((3, 1), -20.0, requires_grad=True)
    g_nonsaturating_loss(logits).backward()
    torch.testing.assert_close(logits.grad, torch.full((3, 1), -1 / 3), atol=1e-6, rtol=0)


def test_hinge_losses() -> None:
    zeros = torch.zeros(4, 1)
    torch.testing.assert_close(d_hinge_loss(zeros, zeros), torch.tensor(2.0))
    torch.testing.assert_close(g_hinge_loss(zeros), torch.tensor(0.0))
    torch.testing.assert_close(
        d_hinge_loss(torch.tensor([[2.0], [0.5]]), torch.tensor([[-2.0], [0.0]])),
        torch.tensor(0.25 + 0.5),
    )
    torch.testing.assert_close(g_hinge_loss(torch.tensor([[1.0], [3.0]])), torch.tensor(-2.0))


def test_r1_of_linear_discriminator_is_squared_weight_norm() -> None:
    a = torch.randn(3, 4, 5, requires_grad=True)
    images = torch.rand(6, 3, 4, 5, requires_grad=True)
    logits = (images * a).flatten(1).sum(dim=1, keepdim=True)  # D(x) = <a, x>
    penalty = r1_penalty(logits, images)
    torch.testing.assert_close(penalty, a.square().sum())
    # create_graph: the penalty is differentiable in D's parameters, d|a|^2/da = 2a
    penalty.backward()
    torch.testing.assert_close(a.grad, 2 * a.detach())


def test_r1_of_quadratic_discriminator() -> None:
    images = torch.randn(4, 2, 3, 3, requires_grad=True)
    logits = images.square().flatten(1).sum(dim=1, keepdim=True)  # grad = 2x
    expected = (4 * images.detach().square().flatten(1).sum(dim=1)).mean()
    torch.testing.assert_close(r1_penalty(logits, images), expected)


def test_r1_needs_images_that_require_grad() -> None:
    images = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="requires_grad_"):
        r1_penalty(images.sum(dim=(1, 2, 3))[:, None], images)


def test_r1_backpropagates_into_a_real_discriminator() -> None:
    torch.manual_seed(0)
    D = Discriminator(resolution=(8, 16), channel_base=32, channel_max=4)
    reals = torch.rand(3, 3, 8, 16).requires_grad_(True)
    real_logits = D(reals)
    loss = d_logistic_loss(real_logits, D(torch.rand(3, 3, 8, 16))) + r1_penalty(real_logits, reals)
    loss.backward()
    for name, p in D.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
