"""Caption drawing: a cue (and its highlighted word) rasterised in the template's caption style
into the caption box of the safe area, as a sprite drawn over the finished frame."""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.video.captions import Cue
from pipelines.video.compositor.context import RenderContext, font_file
from pipelines.video.compositor.sprite import Sprite
from pipelines.video.layout import region_rect
from pipelines.video.template import Template, TextLayer
from pipelines.video.text import render_text


def caption_layer(tpl: Template, text: str) -> TextLayer:
    """A text layer styled by the template's caption spec."""
    c = tpl.captions
    return TextLayer(
        type="text",
        text=text,
        box=c.box,
        font_weight=c.font_weight,
        size=c.size,
        min_size=c.min_size,
        color=c.color,
        stroke=c.stroke,
        background=c.background,
        max_lines=c.max_lines,
        valign="middle",
    )


class CaptionSprites:
    """Caption sprites for one canvas, keyed by caption state ``(cue index, highlighted word
    index or -1)`` (``pipelines.video.captions.caption_state``); the last few dozen are kept."""

    def __init__(self, ctx: RenderContext, cues: Sequence[Cue]) -> None:
        tpl = ctx.template
        self.ctx, self.cues = ctx, cues
        cap_rect = region_rect("safe", ctx.fmt, ctx.scale)
        cb = tpl.captions.box
        self.box = (
            cap_rect[0] + int(cb.x * cap_rect[2]),
            cap_rect[1] + int(cb.y * cap_rect[3]),
            max(1, int(cb.w * cap_rect[2])),
            max(1, int(cb.h * cap_rect[3])),
        )
        self.font = font_file(ctx, tpl.captions)
        self._sprites: dict[tuple[int, int], Sprite] = {}

    def sprite(self, state: tuple[int, int]) -> Sprite:
        sprites, box, tpl = self._sprites, self.box, self.ctx.template
        if state not in sprites:
            if len(sprites) > 64:
                sprites.clear()
            cue = self.cues[state[0]]
            layer = caption_layer(tpl, cue.text)
            ts = render_text(
                layer,
                box[2],
                box[3],
                scale=self.ctx.k,
                font_file=self.font,
                highlight_word=state[1] if state[1] >= 0 else None,
                highlight_color=tpl.captions.highlight_color,
            )
            sprites[state] = Sprite.from_rgba(ts.rgba, box[0] + ts.dx, box[1] + ts.dy)
        return sprites[state]
