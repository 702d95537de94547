"""GAN losses and the R1 gradient penalty: small pure functions of logits.

Sources: non-saturating logistic loss (Goodfellow et al. 2014, Sec. 3; StyleGAN2 official
code ``loss.py``), R1 penalty (Mescheder et al. 2018, "Which Training Methods for GANs do
actually Converge?", Eq. 9), lazy regularisation (StyleGAN2 Sec. 3.1), hinge loss
(Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN Eq. 16-17).
All losses are means over the batch; logits are [N, 1] or [N].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator logistic loss ``mean softplus(-D(x)) + mean softplus(D(G(z)))``.

    Equals 2 log 2 when all logits are 0 (D undecided).
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``mean softplus(-D(G(z)))`` (= -log sigmoid D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss ``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss ``-mean D(G(z))``."""
    return -fake_logits.mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 penalty: batch mean of ``||d D(x) / d x||^2`` over each real image (Mescheder Eq. 9).

    ``real_images`` [N, ...] must require grad and ``real_logits`` [N, 1] must be computed from
    it. The graph is kept (``create_graph=True``) so the penalty can be back-propagated into
    D's weights. The weight gamma / 2 and, for lazy regularisation every k steps, the factor k
    (StyleGAN2 Sec. 3.1) are the caller's: ``loss = r1_penalty(...) * gamma / 2 * k``.
    """
    if not real_images.requires_grad:
        raise ValueError(
            "r1_penalty needs the gradient with respect to the real images: call "
            "real_images.requires_grad_(True) before computing real_logits from them"
        )
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().flatten(1).sum(dim=1).mean()
