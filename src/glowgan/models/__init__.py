"""Networks: an HDR generator that knows nothing of cameras, and an LDR discriminator."""

from glowgan.models.discriminator import Discriminator
from glowgan.models.generator import Generator

__all__ = ["Discriminator", "Generator"]
