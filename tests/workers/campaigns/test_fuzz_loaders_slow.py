"""Hypothesis fuzz of the loaders users feed files to: audience (CSV/JSONL/Parquet bytes), template
(bytes, and real templates with random parts replaced), campaign spec, catalogue and copy deck.
The only acceptable failures are the input errors that name a field — never a traceback."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines._common.data import ASSETS_DIR
from pipelines._common.errors import PipelineInputError

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_tally():  # type: ignore[no-untyped-def]
    """Prints how many fuzzed inputs each loader accepted or refused (visible with -s)."""
    yield
    print("\nloader fuzz:", dict(sorted(TALLY.items())))

SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
           | st.text(max_size=30) | st.sampled_from(["{{customer.city}}", "{{ x | nope }}", "🔥", "auto", "9:16",
                                                      "#FFF", "../../../etc/passwd", "\x00", "249.000", "12.5"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=12)


def _mutate(tree: Any, data: st.DataObject) -> Any:
    """Replace 1-3 random nodes of a parsed document with random values."""
    tree = copy.deepcopy(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        node, path = tree, []
        while isinstance(node, dict | list) and node and (not path or data.draw(st.integers(0, 4)) > 0):
            key = data.draw(st.sampled_from(list(node.keys()) if isinstance(node, dict) else range(len(node))))
            path.append((node, key))
            node = node[key]
        if path:
            parent, key = path[-1]
            parent[key] = data.draw(_like(parent[key]) if data.draw(st.booleans()) else VALUES)
        else:
            tree = data.draw(VALUES)
    return tree


def _like(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same type as ``value``: reach deeper checks than a type error would."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int | float):
        return st.integers(-5, 400) | st.floats(-1e3, 1e3, allow_nan=False) | st.sampled_from([0, 0.2, 300, 1e308])
    if isinstance(value, str):
        return st.text(max_size=80) | st.sampled_from([
            "{{customer.city}}", "{{customer.first_name | default: 'bạn'}} 🔥", "{{ product.price | currency }}",
            "→ ✓ 中文", value + "{{", "x" * 500, "auto", "#GGG", "media/nope.png", "../../etc/passwd"])
    return VALUES


CSV_CELLS = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list(',;\t"\n\r')), max_size=12)


@FUZZ
@given(kind=st.sampled_from([".csv", ".jsonl", ".parquet"]), raw=st.binary(max_size=400),
       rows=st.lists(st.lists(CSV_CELLS, max_size=7), max_size=5),
       delim=st.sampled_from([",", ";", "\t"]), encoding=st.sampled_from(["utf-8", "utf-16", "cp1252", "utf-8-sig"]),
       structured=st.booleans())
def test_audience_reader(tmp_path_factory, kind, raw, rows, delim, encoding, structured) -> None:
    from workers.campaigns import read_audience

    path = tmp_path_factory.mktemp("aud") / f"a{kind}"
    if structured and kind == ".csv":
        import csv
        import io

        buf = io.StringIO()
        csv.writer(buf, delimiter=delim).writerows([["customer_id", "first_name", "message"], *rows])
        raw = buf.getvalue().encode(encoding, errors="replace")
    elif structured and kind == ".jsonl":
        raw = b"\n".join(json.dumps(dict(zip(["customer_id", "first_name", "x"], r, strict=False))).encode()
                         for r in rows)
    path.write_bytes(raw)
    try:
        for row_no, row in read_audience(path, max_rows=1000):
            assert row_no >= 1 and row is not None
        TALLY["audience accepted"] += 1
    except PipelineInputError as exc:
        assert exc.field == "audience" and exc.message
        TALLY["audience refused"] += 1


TEMPLATES = {n: yaml.safe_load((ASSETS_DIR / "templates" / f"{n}.yaml").read_text(encoding="utf-8"))
             for n in ("product_promo", "regional_greeting", "bumper_6s")}
SAMPLE = json.loads((ASSETS_DIR / "templates" / "product_promo.sample.json").read_text(encoding="utf-8"))


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(TEMPLATES)), voice=st.none() | st.floats(0, 400),
       raw=st.binary(max_size=200), as_bytes=st.booleans())
def test_template_loader_and_validation(tmp_path_factory, data, name, voice, raw, as_bytes) -> None:
    from pipelines.video.template import load_template, validate_template

    d = tmp_path_factory.mktemp("tpl")
    path = d / "t.yaml"
    if as_bytes:
        path.write_bytes(raw)
    else:
        path.write_text(yaml.safe_dump(_mutate(TEMPLATES[name], data), allow_unicode=True), encoding="utf-8")
    merge_data = _mutate(SAMPLE, data) if data.draw(st.booleans()) else SAMPLE
    try:
        tpl = load_template(path)
        tpl = tpl.model_copy(update={"base_dir": ASSETS_DIR / "templates"})
        report = validate_template(tpl, merge_data if isinstance(merge_data, dict) else {}, voice_duration=voice)
        assert all(isinstance(e, str) and e for e in report.errors)
        TALLY["template checked"] += 1
    except PipelineInputError as exc:
        assert exc.field == "template" and exc.message
        TALLY["template refused"] += 1


SPEC = yaml.safe_load((ASSETS_DIR / "demo" / "campaign.yaml").read_text(encoding="utf-8"))
SPEC.update(catalogue=str(ASSETS_DIR / "demo" / "catalogue.yaml"), copy=str(ASSETS_DIR / "demo" / "copy.yaml"))


@FUZZ
@given(data=st.data(), raw=st.binary(max_size=300), as_bytes=st.booleans())
def test_spec_loader(tmp_path_factory, data, raw, as_bytes) -> None:
    from workers.campaigns import CampaignSpecError, load_spec

    path = tmp_path_factory.mktemp("spec") / "c.yaml"
    if as_bytes:
        path.write_bytes(raw)
    else:
        path.write_text(yaml.safe_dump(_mutate(SPEC, data), allow_unicode=True), encoding="utf-8")
    try:
        spec = load_spec(path)
        TALLY["spec accepted"] += 1
    except CampaignSpecError as exc:
        assert str(exc) and len(str(exc)) < 20_000
        TALLY["spec refused"] += 1
        return
    # An accepted spec goes through the whole validation (2 audience rows, to stay quick).
    from workers.campaigns import validate_campaign
    from workers.settings import load_settings

    aud = path.parent / "a.csv"
    aud.write_text("customer_id,first_name,location\nc1,Zoë,London\nc2,Hương,Huế\n", encoding="utf-8")
    settings = load_settings(env={}, overrides={"data_dir": str(path.parent / "data")})
    try:
        v = validate_campaign(spec.model_copy(update={"audience": aud}), settings)
        assert v.rows_total == 2 and len(v.planned) + len({e.row for e in v.errors}) == 2
        TALLY["spec validated"] += 1
    except PipelineInputError as exc:
        assert exc.message
        TALLY["spec validation refused"] += 1


CATALOGUE = yaml.safe_load((ASSETS_DIR / "demo" / "catalogue.yaml").read_text(encoding="utf-8"))
DECK = yaml.safe_load((ASSETS_DIR / "demo" / "copy.yaml").read_text(encoding="utf-8"))


@FUZZ
@given(data=st.data())
def test_catalogue_and_copy_deck(data) -> None:
    from pipelines.personalization.catalogue import catalogue_from_dict
    from pipelines.personalization.copy import copy_deck_from_dict

    for build, doc, what in ((lambda d: catalogue_from_dict(d, base_dir=Path(ASSETS_DIR) / "demo"), CATALOGUE,
                              "catalogue"), (copy_deck_from_dict, DECK, "copy")):
        try:
            build(_mutate(doc, data))
            TALLY[f"{what} accepted"] += 1
        except PipelineInputError as exc:
            assert exc.message and exc.field
            TALLY[f"{what} refused"] += 1
