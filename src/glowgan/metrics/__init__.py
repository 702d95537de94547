"""Measurements of HDR and LDR images: dynamic range, fidelity against ground truth, distribution distances."""
