"""Video ad pipeline: templates with merge fields, captions, music ducking, several formats.

``VERSION`` is part of every render_ad job's fingerprint (``workers/jobs/fingerprint.py``): bump
it when the rendered ad for the same template, data and params changes. Import-free on purpose.
"""

VERSION = "video-ad/3"  # 2: cutouts, motion, delivery checks, caption fixes (issue 14); 3: the mix is normalised by
# the shared limiter (_common/loudness.py), exact target LUFS
