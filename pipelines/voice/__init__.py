"""Voice pipeline: regional-accent voiceovers with word timings.

``VERSION`` is part of every voice job's fingerprint (``workers/jobs/fingerprint.py``): bump it
when the output for the same script and params changes. Import-free on purpose.
"""

VERSION = "voice-2"  # 2: real-script normalisation (phones, codes, ranges, emoji) and flite defaults
