"""Recolor pipelines: exact colour science (CPU) and diffusion inpainting (GPU).

The versions below are part of every recolor job's fingerprint (``workers/jobs/fingerprint.py``):
bump one when that engine's output for the same inputs and params changes, and only its cached
results are invalidated. Kept here, import-free, so fingerprinting never loads a pipeline.
"""

EXACT_VERSION = "recolor-exact/2"  # 2: mask chain with U²-Net-p, whole-garment regions, cutouts
DIFFUSION_VERSION = "recolor-diffusion/1"
