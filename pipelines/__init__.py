"""Pure media pipelines: recolor, voice, video, personalization.

Nothing under ``pipelines`` imports Ray, HTTP frameworks, databases or ``workers``;
``tests/test_purity.py`` enforces it.
"""

PIPELINE_VERSION = "0.1.0"
