"""The frame compositor: flatten static layers once, composite only what moves, dedupe frames.

Per scene, every layer below the first animated one is flattened into an RGB background
(cached by content hash, so customers sharing a scene reuse it). Layers above are pre-rendered
sprites blended per frame within their own rectangles. Each frame gets a *state key*; when it
equals the previous frame's key the previous yuv420p buffer is sent again, so a held shot costs
only a pipe write. Animations and transitions live in ``pipelines.video.effects``.

Modules (import from them directly; this package re-exports nothing):

- ``frames``: the frame generator (``frames``, ``still_frame``, ``FrameOut``, ``FrameComposer``)
- ``segments``: timeline segments with content keys for encode reuse (``plan_segments``)
- ``scene_plan``: layers made ready to draw, flattened background, next-scene prefetch
- ``raster``: one static layer -> sprite (text, shapes, swatches, fitted images)
- ``product``: product cutout (alpha, mask file, auto mask), drop and contact shadows
- ``clips``: per-frame content (Ken Burns zoom/pan, video clips)
- ``caption_sprites``: caption cues rasterised in the template's caption style
- ``context``: ``RenderContext`` and media/font/mask resolution
- ``cache``: ``RenderCache`` (LRU bounded in bytes), ``digest``, ``file_id``
- ``sprite``: ``Sprite`` and exact alpha blending; ``yuv``: RGB -> yuv420p, patched by rectangle
"""
