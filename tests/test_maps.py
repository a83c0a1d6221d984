"""Static maps: content of the rendered files, the CJK font, legends, what a filter draws, and the CLI."""

from __future__ import annotations

import io
import re
import subprocess
import warnings
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation, Text
from PIL import Image

from registry import model
from registry.errors import ValidationError
from registry.maps import choropleth_figure, classify, overlay_figure, render_choropleth, render_map
from registry.maps.page import LEGEND_BOX, PAGE_INCHES
from registry.maps.style import SYMBOLS
from registry.query import find
from registry.stats import statistics
from registry.store import GeoPackageStore

from .conftest import run_cli

STREET_NAMES = ("婁葑", "斜塘", "唯亭", "勝浦", "金雞湖")


@pytest.fixture(scope="module")
def store(demo_path) -> GeoPackageStore:
    return GeoPackageStore(demo_path)


@pytest.fixture(scope="module")
def category_map(store) -> Figure:
    """The overlay map of every project by category; tests only read it."""
    return overlay_figure(store, {}, by="category")


@pytest.fixture(scope="module")
def investment_map(store) -> Figure:
    """The street choropleth of investment; tests only read it."""
    return choropleth_figure(store, {}, value="investment")


def legend_texts(fig: Figure) -> list[tuple[str, list[str]]]:
    """(title, entry texts) of every legend block of a map, top to bottom."""
    return [(leg.get_title().get_text(), [t.get_text() for t in leg.get_texts()]) for leg in fig.findobj(Legend)]


def drawn_project_features(fig: Figure) -> int:
    """Features drawn in the project collections (``projects:<layer>:<class>``): a path or a marker each."""
    count = 0
    for collection in fig.axes[0].collections:
        gid = collection.get_gid() or ""
        if gid.startswith("projects:"):
            layer = gid.split(":")[1]
            marks = SYMBOLS[layer].kind == "marker"
            count += len(collection.get_offsets()) if marks else len(collection.get_paths())
    return count


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_overlay_png_is_a_page_of_many_colours(store):
    pixels = png_pixels(render_map(store, {}, fmt="png", dpi=100))
    assert pixels.shape[:2] == (round(PAGE_INCHES[1] * 100), round(PAGE_INCHES[0] * 100))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500


def test_png_resolution_follows_dpi(store):
    width = Image.open(io.BytesIO(render_map(store, {"category": "rivers"}, fmt="png", dpi=200))).size[0]
    assert width == round(PAGE_INCHES[0] * 200)


def test_legend_panel_is_inked(store):
    pixels = png_pixels(render_map(store, {}, fmt="png", dpi=100))
    left, bottom, width, height = (round(v * 100) for v in LEGEND_BOX)
    top = pixels.shape[0] - (bottom + height)
    panel = pixels[top:top + height, left:left + width]
    dark = (panel.sum(axis=2) < 300).mean()
    coloured = len(np.unique(panel.reshape(-1, 3), axis=0))
    assert dark > 0.005 and coloured > 20


def test_category_legend_names_each_drawn_category_in_chinese(category_map, store):
    (title, entries), *_ = legend_texts(category_map)
    assert title == "專案類別"
    names = {re.sub(r"\(\d+[項處]\)$", "", e) for e in entries}
    drawn = set(store.projects()["category"])
    assert {model.CATEGORY_BY_SLUG[c].zh for c in drawn} | {"閘站"} == names


def test_base_legend_lists_the_reference_layers(category_map):
    title, entries = legend_texts(category_map)[-1]
    assert title == "底圖"
    assert entries[:1] == ["園區邊界"] and "湖泊" in entries and "主要河道" in entries


@pytest.mark.parametrize(("by", "title", "expected"), [
    ("status", "專案狀態", {"計劃", "已完成", "長效管理", "在建", "延期"}),
    ("year", "專案年度", {"2013年", "2014年", "2015年"}),
])
def test_by_status_or_year_gives_its_own_legend(store, category_map, by, title, expected):
    blocks = legend_texts(overlay_figure(store, {}, by=by))
    assert blocks[0][0] == title
    assert {re.sub(r"\(\d+項\)$", "", e) for e in blocks[0][1]} == expected
    assert blocks[1][0] == "圖形"
    assert blocks[0] != legend_texts(category_map)[0]


def test_every_text_is_set_in_noto_sans_cjk(category_map, investment_map):
    texts = [t for fig in (category_map, investment_map) for t in fig.findobj(Text) if t.get_text()]
    assert len(texts) > 40
    for text in texts:
        path = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        assert "NotoSansCJK" in str(path), text.get_text()


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_no_glyph_is_missing_from_the_font(store, fmt):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r"Glyph .* missing from font")
        render_map(store, {}, by="status", fmt=fmt)
        render_choropleth(store, {}, value="investment", fmt=fmt)


def test_svg_keeps_street_names_as_text(store):
    svg = ET.fromstring(render_choropleth(store, {}, fmt="svg"))
    texts = " ".join(el.text or "" for el in svg.iter("{http://www.w3.org/2000/svg}text"))
    for name in STREET_NAMES:
        assert name in texts
    assert "萬元" in texts


def test_pdf_embeds_the_cjk_font(store, tmp_path):
    path = tmp_path / "map.pdf"
    path.write_bytes(render_map(store, {}, fmt="pdf"))
    done = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    fonts = [line.split() for line in done.stdout.splitlines()[2:]]
    cjk = [f for f in fonts if f[0].split("+")[-1].startswith("NotoSansCJK")]
    assert cjk and all(f[-5] == "yes" for f in cjk)  # emb, counted from the end: type names have spaces
    assert "Mismatch" not in done.stderr


@pytest.mark.parametrize("params", [{}, {"category": "rivers,billboards"}, {"street": "婁葑", "year": "2014"},
                                    {"status": "delayed"}])
def test_drawn_features_are_those_the_query_finds(store, params):
    assert drawn_project_features(overlay_figure(store, params)) == len(find(store, params).features)


def test_a_filter_draws_fewer_features(store, category_map):
    filtered = drawn_project_features(overlay_figure(store, {"category": "rivers"}))
    assert 0 < filtered < drawn_project_features(category_map)


def test_streets_are_drawn_as_of_the_query_date(store):
    def street_labels(fig: Figure) -> set[str]:
        return {t.get_text() for t in fig.axes[0].texts if t.get_text().endswith("街道")}

    assert street_labels(overlay_figure(store, {"as_of": "2014-01-10"})) == {"婁葑街道", "斜塘街道", "唯亭街道",
                                                                             "勝浦街道"}
    assert street_labels(overlay_figure(store, {"as_of": "2022-01-01"})) == {f"{n}街道" for n in STREET_NAMES}


def test_labels_do_not_overlap(category_map):
    renderer = category_map.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in category_map.axes[0].texts
             if isinstance(t, Annotation) and t.get_gid() != "halo"]
    assert len(boxes) > 10
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1:])


def test_scale_bar_is_true_in_metres(category_map):
    ax = category_map.axes[0]
    segments = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_zorder() == 9.1]
    length_m = sum(p.get_width() for p in segments)
    label = max(float(t.get_text()) for t in ax.texts if re.fullmatch(r"[\d.]+", t.get_text()))
    assert "公里" in {t.get_text() for t in ax.texts} and length_m == label * 1000
    x_per_px = np.diff(ax.get_xlim())[0] / ax.get_window_extent().width
    y_per_px = np.diff(ax.get_ylim())[0] / ax.get_window_extent().height
    assert x_per_px == pytest.approx(y_per_px, rel=1e-3)


def test_title_and_data_date_are_shown(store):
    fig = overlay_figure(store, {}, title="婁葑專案圖")
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert fig.get_suptitle() == "婁葑專案圖"
    assert any(f"數據日期:{store.meta()['data_date']}" in t for t in texts)
    assert "北" in texts


def test_empty_selection_draws_the_base_and_says_so(store):
    fig = overlay_figure(store, {"q": "沒有這個專案"})
    assert drawn_project_features(fig) == 0
    assert "無符合條件的專案" in [t.get_text() for t in fig.axes[0].texts]


def test_choropleth_legend_shows_wan_yuan_classes(investment_map):
    title, entries = legend_texts(investment_map)[0]
    assert title == "投資(萬元)"
    assert 2 <= len(entries) <= 5
    assert all(re.fullmatch(r"[\d,]+ – [\d,]+", e) for e in entries)


def test_choropleth_shades_each_street_by_its_apportioned_class(store, investment_map):
    rows = statistics(store, {}, "street").rows.set_index("street")
    legend = investment_map.findobj(Legend)[0]
    classes = []
    for text, handle in zip(legend.get_texts(), legend.legend_handles):
        low, high = (float(v.replace(",", "")) for v in text.get_text().split(" – "))
        classes.append((low, high, tuple(handle.get_facecolor())))
    for collection in investment_map.axes[0].collections:
        gid = collection.get_gid() or ""
        if gid.startswith("street:"):
            wan = rows.at[gid.removeprefix("street:"), "investment_fen"] / 1_000_000
            colour = next(c for low, high, c in classes if low <= wan <= high)
            assert tuple(collection.get_facecolor()[0]) == pytest.approx(colour)


def test_count_choropleth_labels_streets_with_project_counts(store):
    fig = choropleth_figure(store, {"as_of": "2014-01-10"}, value="count")
    rows = statistics(store, {"as_of": "2014-01-10"}, "street").rows
    labels = {t.get_text() for t in fig.axes[0].texts}
    for name, projects in zip(rows["street_name"], rows["projects"]):
        assert f"{name}街道\n{projects} 項" in labels
    assert legend_texts(fig)[0][0] == "專案數(項)"


def test_classify_uses_round_equal_steps_for_few_values():
    classing = classify(np.array([35_567.28, 40_932.70, 57_406.58, 97_429.72, 131_963.72]))
    assert classing.method == "EqualSteps"
    assert classing.bounds == [(25_000, 50_000), (50_000, 75_000), (75_000, 100_000), (100_000, 125_000),
                               (125_000, 150_000)]
    assert classing.index.tolist() == [0, 0, 1, 2, 4]


def test_classify_uses_natural_breaks_for_many_values():
    values = np.array([1, 2, 3, 10, 11, 12, 40, 41, 42, 90, 95, 200], dtype=float)
    classing = classify(values)
    assert classing.method == "NaturalBreaks" and len(classing.bounds) == 5
    for value, klass in zip(values, classing.index):
        low, high = classing.bounds[klass]
        assert low <= value <= high


def test_classify_one_value_is_one_class():
    assert classify(np.zeros(4)).bounds == [(0.0, 0.0)]


def test_unknown_format_or_dpi_is_refused(store):
    with pytest.raises(ValidationError, match="'gif'"):
        render_map(store, {}, fmt="gif")
    with pytest.raises(ValidationError, match="dpi"):
        render_choropleth(store, {}, dpi=5)


def test_renders_in_threads_match_a_render_alone(store):
    alone = render_map(store, {"category": "rivers"}, fmt="svg")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: render_map(store, {"category": "rivers"}, fmt="svg"), range(4)))
    assert all(result == alone for result in results)


@pytest.mark.parametrize(("args", "magic"), [
    (["--by", "status", "--out", "map.png", "--dpi", "80"], b"\x89PNG"),
    (["--category", "rivers", "--out", "map.svg"], b"<?xml"),
    (["--theme", "count", "--out", "map.pdf", "--title", "各街道專案數"], b"%PDF"),
])
def test_cli_writes_the_map_file(demo_path, tmp_path, args, magic):
    done = run_cli("map", "--store", str(demo_path), *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / args[args.index("--out") + 1]).read_bytes().startswith(magic)


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "map.gif"], ".png, .svg, .pdf"),
    (["--category", "nosuch", "--out", "map.png"], "未知的 category"),
    (["--by", "year", "--theme", "count", "--out", "map.png"], "不能同时使用"),
])
def test_cli_refuses_bad_input_in_one_line(demo_path, tmp_path, args, message):
    done = run_cli("map", "--store", str(demo_path), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(("registry: 错误：", "registry: 錯誤：")) and done.stderr.strip().count("\n") == 0
    assert message in done.stderr
    assert not list(tmp_path.iterdir())
