"""Builders for tests and benchmarks only: tiny random-weight models and synthetic product photos.

Production code (``pipelines/``, ``workers/``) never imports this package (``tests/test_purity.py``
checks); ``tests/`` and ``bench/`` do. Modules: ``synthetic`` (shaded product photos with
ground-truth masks and colours), ``diffusion_tiny`` (tiny SD-inpainting + ControlNet directories),
``coqui_tiny`` (tiny VITS as a Coqui model directory), ``piper_tiny`` (that VITS exported as a Piper
voice).
"""
