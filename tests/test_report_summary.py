"""The yearly work summary written from the registry (issue 16, items 1, 4 and 5): its figures against an
independent computation over the store and against the source document, its PDF, DOCX and HTML forms, the
command and the HTTP route, and the number rules documents write figures by."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import docx
import geopandas as gpd
import pandas as pd
import pytest
import shapely
from docx.oxml.ns import qn

from registry import numbers, script
from registry.cli import main
from registry.report.document import render
from registry.report.summary import summary, summary_view
from registry.store import GeoPackageStore, read_store

from .conftest import ROOT

STREETS = {"LF": "婁葑", "XT": "斜塘", "WT": "唯亭", "SP": "勝浦"}
# The figures the source document states (its summary of 2013 and its plan for 2014).
SOURCE = {
    "programme": ("三", "36.3", "36.33", "180"),
    "years": {"2013": ("6.03", "81"), "2014": ("16.2", "48"), "2015": ("14.1", "51")},
    "statement": "61", "done": ("48", "12", "1"), "alleys": "5",
    "rivers": ("12", "11", "1", "彌陀涇"), "extra_rivers": ("1700", "21"), "extra_rivers_due": ("2014", "4"),
    "polders": "4", "delayed_due": ("2014", "3"), "sites": "16", "markets": "5", "vending": ("2", "152"),
    "parking": ("8", "14.6", "1494"), "billboards": ("2", "7"), "extra_billboards": "105",
    "plan": ("48", "16.2"), "plan_categories": ("1", "1", "1", "15", "8", "12", "1", "7", "1", "1"),
}
# Where each figure stands in the summary's sentences (Traditional, as the demo shows).
PATTERNS = {
    "programme": r"園區(\S)年中需投入資金約([\d.]+)億元\(合計([\d.]+)億元\),實施整治專案(\d+)個",
    "statement": r"確定了\d{4}年度園區綜合整治專案共(\d+)個",
    "done": r"已完工(\d+)個,完工後納入長效管理(\d+)個,延期(\d+)個",
    "alleys": r"確定整治背街小巷(\d+)條",
    "rivers": r"確定整治城市河道(\d+)條、總長\d+米,其中\S*?等(\d+)條河道主要為河道保潔及清淤,"
              r"另有(\d+)條(\S+?)主要為河道保潔及漁網清理",
    "alleys_length": r"確定整治背街小巷\d+條、總長(\d+)米",
    "rivers_length": r"確定整治城市河道\d+條、總長(\d+)米",
    "polders_area": r"確定整治低窪易淹易澇片區\d+個、面積([\d.]+)萬平方米",
    "extra_rivers": r"追加投資(\d+)餘萬元,新增了(\d+)條河道",
    "extra_rivers_due": r"力爭在(\d{4})年(\d+)月上旬結束",
    "polders": r"確定整治低窪易淹易澇片區(\d+)個",
    "delayed_due": r"蠡塘圩的[^。]*流砂[^。]*計劃(\d{4})年(\d+)月底前完工",
    "sites": r"確定整治建設工地(\d+)個,按照建築、市政、拆遷、待建四個類型",
    "markets": r"確定整治農貿市場(\d+)個",
    "vending": r"確定開闢經營疏導點(\d+)處,提供固定攤位(\d+)個",
    "parking": r"新建(\d+)處、共([\d.]+)萬平米的社會臨時停車場,提供泊位(\d+)個",
    "billboards": r"違規設置的戶外廣告(\d+)處,整治陳舊破損、存在安全隱患的戶外廣告(\d+)處",
    "extra_billboards": r"大中型戶外廣告設施(\d+)處",
    "plan": r"確定了年度綜合整治專案(\d+)個,需投入資金([\d.]+)億元",
    "plan_categories": r"其中城郊結合部(\d+)片、城中村(\d+)個、棚戶區(\d+)個、老舊小區(\d+)個、背街小巷(\d+)條、"
                       r"城市河道(\d+)條、低窪易淹易澇片區(\d+)個、建設工地(\d+)個、農貿市場(\d+)個、新建停車設施(\d+)處",
}
YEAR_PATTERN = r"(\d{4})年需投入資金([\d.]+)億元,實施整治專案(\d+)個"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``registry`` command's entry point in this process: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def plain(value: float) -> str:
    """A number as the text writes it: no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


@pytest.fixture(scope="module")
def expected(demo_path) -> dict:
    """The summary's figures computed over the demo store's projects and features with pandas alone."""
    store = GeoPackageStore(demo_path)
    p = store.projects()
    y = p[p["year"] == 2013]
    listed = y[y["in_statement"]]
    of = {c: listed[listed["category"] == c] for c in listed["category"].unique()}
    rivers = of["rivers"]
    cleaning = rivers[rivers["tasks"] == "河道保潔及清淤"]
    nets = rivers[rivers["tasks"] != "河道保潔及清淤"]
    beyond = y[y["beyond_statement"]].set_index("category")
    river_features = store.features("rivers")
    billboard_features = store.features("billboards")
    extra_river, extra_bb = beyond.loc["rivers"], beyond.loc["billboards"]
    delayed = listed[listed["status"] == "delayed"].iloc[0]
    nxt = p[p["year"] == 2014]
    plan_order = ["urban_fringes", "urban_villages", "shanty_areas", "old_compounds", "alleys", "rivers", "polders",
                  "construction_sites", "markets", "parking_lots"]
    bb = of["billboards"]
    return {
        "programme": ("三", plain(round(p["investment_yuan"].sum() / 1e8, 1)), plain(p["investment_yuan"].sum() / 1e8),
                      str(len(p))),
        "years": {str(k): (plain(g["investment_yuan"].sum() / 1e8), str(len(g))) for k, g in p.groupby("year")},
        "statement": str(len(listed)),
        "done": tuple(str(int((listed["status"] == s).sum()))
                      for s in ("completed", "long_term_management", "delayed")),
        "alleys": str(len(of["alleys"])),
        "rivers": (str(len(rivers)), str(len(cleaning)), str(len(nets)), nets["name"].iloc[0].removesuffix("整治")),
        "alleys_length": str(int(round(of["alleys"]["length_m"].sum()))),
        "rivers_length": str(int(round(rivers["length_m"].sum()))),
        "polders_area": plain(round(of["polders"]["area_m2"].sum() / 1e4, 1)),
        "extra_rivers": (str(int(extra_river["investment_yuan"] // 1_000_000 * 100)),
                         str(int((river_features["project_id"] == extra_river["project_id"]).sum()))),
        "extra_rivers_due": (extra_river["planned_finish"][:4], str(int(extra_river["planned_finish"][5:7]))),
        "polders": str(len(of["polders"])),
        "delayed_due": (delayed["planned_finish"][:4], str(int(delayed["planned_finish"][5:7]))),
        "sites": str(len(of["construction_sites"])), "markets": str(len(of["markets"])),
        "vending": (str(len(of["vending_points"])), str(int(of["vending_points"]["stalls"].sum()))),
        "parking": (str(len(of["parking_lots"])), plain(round(of["parking_lots"]["area_m2"].sum() / 1e4, 1)),
                    str(int(of["parking_lots"]["parking_spaces"].sum()))),
        "billboards": (str(int((bb["billboard_action"] == "remove").sum())),
                       str(int((bb["billboard_action"] == "renovate").sum()))),
        "extra_billboards": str(int((billboard_features["project_id"] == extra_bb["project_id"]).sum())),
        "plan": (str(len(nxt)), plain(nxt["investment_yuan"].sum() / 1e8)),
        "plan_categories": tuple(str(int((nxt["category"] == c).sum())) for c in plan_order),
    }


@pytest.fixture(scope="module")
def files(demo_path, tmp_path_factory) -> dict[str, Path]:
    """The demo's 2013 summary, built once, as HTML, PDF and DOCX (the registry's script, Traditional)."""
    folder = tmp_path_factory.mktemp("summary")
    out = {}
    with read_store(str(demo_path)) as latest:
        view, day = summary_view(latest, None)
        with script.use(script.registry_default(latest.meta())):
            doc = summary(view, 2013, day)
            for fmt in ("html", "pdf", "docx"):
                out[fmt] = folder / f"summary.{fmt}"
                out[fmt].write_bytes(render(doc, fmt))
    return out


def html_text(path: Path) -> str:
    page = path.read_text(encoding="utf-8")
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "\n", page))


def docx_text(path: Path) -> str:
    return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)


def figures(text: str) -> dict:
    """The figures parsed back out of the summary's text, by the sentences they stand in."""
    found = {}
    for key, pattern in PATTERNS.items():
        match = re.search(pattern, text)
        assert match, f"{key}: no sentence matching {pattern}"
        found[key] = match.group(1) if len(match.groups()) == 1 else match.groups()
    found["years"] = {y: (inv, n) for y, inv, n in re.findall(YEAR_PATTERN, text)}
    return found


@pytest.mark.parametrize("fmt", ["html", "docx"])
def test_every_figure_of_the_summary_equals_an_independent_computation(files, expected, fmt):
    text = html_text(files[fmt]) if fmt == "html" else docx_text(files[fmt])
    assert figures(text) == expected


def test_the_demo_summary_states_the_source_documents_figures(expected):
    assert {key: expected[key] for key in SOURCE} == SOURCE


def test_the_street_table_counts_projects_by_membership_and_its_investment_adds_up(files, demo_path):
    word = docx.Document(str(files["docx"]))
    table = word.tables[0]
    rows = [[c.text for c in row.cells] for row in table.rows]
    by_name = {r[0]: r for r in rows[1:]}
    assert set(by_name) == {*STREETS.values(), "合計"}  # the streets of the data date: no 金雞湖 yet
    streets = gpd.read_file(demo_path, layer="street_offices")
    streets = streets[(streets["valid_from"] <= "2014-01-10")
                      & (streets["valid_to"].isna() | (streets["valid_to"] > "2014-01-10"))].to_crs(4549)
    store = GeoPackageStore(demo_path)
    p = store.projects()
    ids = set(p.loc[p["year"] == 2013, "project_id"])
    members: dict[str, set] = {code: set() for code in STREETS}
    for layer in p.loc[p["year"] == 2013, "category"].unique():
        feats = store.features(layer)
        feats = feats[feats["project_id"].isin(ids)].to_crs(4549)
        for street in streets.itertuples():
            inside = shapely.intersection(feats.geometry.values, street.geometry)
            measure = shapely.length(inside) if layer in ("alleys", "rivers") else (
                shapely.area(inside) if layer != "billboards" else ~shapely.is_empty(inside))
            members[street.code] |= set(feats["project_id"][pd.Series(measure > 0, index=feats.index)])
    assert {name: int(by_name[name][1]) for name in STREETS.values()} == \
        {STREETS[code]: len(found) for code, found in members.items()}
    money = [float(by_name[name][3].replace(",", "")) for name in STREETS.values()]
    total_wan = p.loc[p["year"] == 2013, "investment_yuan"].sum() / 1e4
    assert round(sum(money), 2) == round(total_wan, 2) == float(by_name["合計"][3].replace(",", ""))
    assert "分攤" in word.paragraphs[[i for i, q in enumerate(word.paragraphs) if q.text.startswith("注")][0]].text


def test_the_pdf_embeds_its_cjk_fonts_and_sets_no_text_in_type3(files):
    listing = subprocess.run(["pdffonts", str(files["pdf"])], capture_output=True, text=True, check=True).stdout
    fonts = listing.splitlines()[2:]
    assert fonts and all(" yes yes " in line for line in fonts), listing  # embedded and subset
    assert not any("Type 3" in line for line in fonts), listing
    names = " ".join(line.split()[0] for line in fonts)
    assert all(face in names for face in ("cwTeXFangSong", "Noto-Sans-CJK", "UKai")), names


def test_the_pdf_text_holds_the_street_and_category_names(files):
    text = subprocess.run(["pdftotext", "-layout", str(files["pdf"]), "-"], capture_output=True, text=True,
                          check=True).stdout
    for name in [*STREETS.values(), "背街小巷", "城市河道", "低窪易淹易澇片區", "建設工地", "農貿市場",
                 "經營疏導點", "停車", "戶外廣告", "— 1 —"]:
        assert name in text, name
    assert "金雞湖街道" not in text and "\ufffd" not in text


def test_the_pdf_pages_render(files, tmp_path):
    run = subprocess.run(["pdftoppm", "-png", "-r", "30", "-f", "1", "-l", "2", str(files["pdf"]),
                          str(tmp_path / "page")], capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr, run.stderr
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2 and all(p.stat().st_size > 2000 for p in pages)


def test_the_docx_has_word_headings_tables_and_east_asian_fonts_on_every_run(files):
    word = docx.Document(str(files["docx"]))
    styles = [p.style.name for p in word.paragraphs]
    assert styles.count("Heading 1") == 2 and styles.count("Heading 3") == 8 and styles.count("Heading 2") >= 9
    assert [p.text for p in word.paragraphs if p.style.name == "Heading 1"] == ["一、2013年工作總結",
                                                                                "二、2014年工作計劃"]
    assert len(word.tables) == 2 and word.tables[0].style.name == "Table Grid"
    runs = [r for p in word.paragraphs for r in p.runs if r.text.strip()]
    runs += [r for t in word.tables for row in t.rows for c in row.cells for p in c.paragraphs for r in p.runs]
    assert runs and all(r._element.rPr.rFonts.get(qn("w:eastAsia")) for r in runs)
    section = word.sections[0]
    assert (round(section.top_margin.mm), round(section.left_margin.mm), round(section.page_width.mm)) == (37, 28, 210)
    assert "PAGE" in section.footer._element.xml


def test_libreoffice_converts_the_docx(files, tmp_path):
    run = subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                          "--convert-to", "pdf", "--outdir", str(tmp_path), str(files["docx"])],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    converted = tmp_path / "summary.pdf"
    assert converted.stat().st_size > 10_000
    text = subprocess.run(["pdftotext", str(converted), "-"], capture_output=True, text=True, check=True).stdout
    assert "蠡塘圩" in text


@pytest.fixture(scope="module")
def answers(client) -> dict:
    """The route's answer in each format (HTML in Simplified)."""
    return {fmt: client.get(f"/reports/summary/2013?f={fmt}" + ("&lang=zh-Hans" if fmt == "html" else ""))
            for fmt in ("html", "pdf", "docx")}


@pytest.mark.parametrize(("fmt", "media"), [("html", "text/html"), ("pdf", "application/pdf"),
                                            ("docx", "application/vnd.openxmlformats-officedocument"
                                                     ".wordprocessingml.document")])
def test_the_route_answers_each_format_with_its_media_type(answers, fmt, media):
    response = answers[fmt]
    assert response.status_code == 200 and response.mimetype == media
    assert response.data[:4] == {"html": b"<!DO", "pdf": b"%PDF", "docx": b"PK\x03\x04"}[fmt]


def test_the_simplified_page_uses_mainland_wording_and_links_its_stylesheet(answers, client):
    page = answers["html"].get_data(as_text=True)
    assert "实施整治项目180个" in page and "约36.3亿元" in page and "專案" not in page
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
    css = client.get(href)
    assert css.status_code == 200 and css.mimetype == "text/css" and "@page" in css.get_data(as_text=True)
    assert "<style>" not in page  # the pages' security policy runs no inline style


@pytest.mark.parametrize(("query", "param"), [("f=odt", "f"), ("as_of=2014-02-30", "as_of"), ("lang=en", "lang")])
def test_the_route_refuses_a_bad_parameter_naming_it(client, query, param):
    response = client.get(f"/reports/summary/2013?{query}")
    assert response.status_code == 400 and response.get_json()["parameter"] == param


def test_the_route_refuses_a_year_without_projects(client):
    response = client.get("/reports/summary/2019")
    assert response.status_code == 400 and response.get_json()["parameter"] == "year"


def test_the_command_refuses_an_unknown_suffix_in_one_line(demo_path, tmp_path, capsys):
    code, _out, err = cli(capsys, "report", "summary", "--store", str(demo_path), "--year", "2013",
                          "--out", str(tmp_path / "s.odt"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and ".docx" in err


def test_an_earlier_as_of_states_what_was_done_by_then(demo_path, tmp_path, capsys):
    out = tmp_path / "s.md"
    code, _out, err = cli(capsys, "report", "summary", "--store", str(demo_path), "--year", "2013",
                          "--as-of", "2013-11-15", "--out", str(out))
    assert code == 0, err
    with read_store(str(demo_path), "2013-11-15") as view:
        listed = view.projects().query("year == 2013 and in_statement")
    done = listed["status"].isin(["completed", "long_term_management"]).sum()
    assert 0 < done < len(listed)
    assert re.search(r"目前已完成(\d+)個:", out.read_text(encoding="utf-8")).group(1) == str(done)


def test_the_text_the_office_keeps_is_the_summarys_narrative(demo_copy, tmp_path, capsys):
    text = tmp_path / "text.md"
    text.write_text("# organisation\n## 健全組織\n園區成立整治領導小組,統籌推進。\n"
                    "# measures\n## 強化考核\n按月通報。\n", encoding="utf-8")
    code, _out, err = cli(capsys, "report", "text", "summary", str(text), "--store", str(demo_copy))
    assert code == 0, err
    with read_store(str(demo_copy)) as latest, script.use("zh-Hant"):
        view, day = summary_view(latest, None)
        markdown = render(summary(view, 2013, day), "md").decode()
    assert "### (一)健全組織" in markdown and "按月通報。" in markdown and "為保障整治工作順利推進" not in markdown
    bad = tmp_path / "bad.md"
    bad.write_text("# preface\n前言\n", encoding="utf-8")
    code, _out, err = cli(capsys, "report", "text", "summary", str(bad), "--store", str(demo_copy))
    assert code == 2 and "preface" in err


def test_no_figure_is_written_in_the_summarys_template():
    template = (ROOT / "registry" / "report" / "templates" / "summary.j2").read_text(encoding="utf-8")
    assert not re.search(r"[0-9]", template)


# -- numbers as documents write them ---------------------------------------------------------------


@pytest.mark.parametrize(("chosen", "yuan", "yi", "about"), [
    ("zh-Hant", 3_633_000_000, "36.33億元", "約36.3億元"), ("zh-Hans", 3_633_000_000, "36.33亿元", "约36.3亿元"),
    ("zh-Hant", 603_000_000, "6.03億元", "約6億元"), ("zh-Hant", 1_620_000_000, "16.2億元", "16.2億元"),
    ("zh-Hant", 1_400_000_000, "14億元", "14億元"), ("zh-Hant", 5_000_000, "0.05億元", "約0.1億元")])
def test_yi_drops_trailing_zeros_and_the_rounded_form_says_about(chosen, yuan, yi, about):
    with script.use(chosen):
        assert (numbers.yi(yuan), numbers.yi_about(yuan)) == (yi, about)


@pytest.mark.parametrize(("chosen", "yuan", "wan", "over"), [
    ("zh-Hant", 17_260_000, "1726萬元", "1700餘萬元"), ("zh-Hans", 17_260_000, "1726万元", "1700余万元"),
    ("zh-Hant", 17_000_000, "1700萬元", "1700萬元"), ("zh-Hant", 1_250_000, "125萬元", "100餘萬元")])
def test_wan_for_project_sums_and_over_a_round_figure(chosen, yuan, wan, over):
    with script.use(chosen):
        assert (numbers.wan(yuan), numbers.wan_over(yuan)) == (wan, over)


@pytest.mark.parametrize(("chosen", "n", "measure", "text"), [
    ("zh-Hant", 180, "ge", "180個"), ("zh-Hans", 180, "ge", "180个"), ("zh-Hant", 5, "tiao", "5條"),
    ("zh-Hans", 8, "chu", "8处"), ("zh-Hant", 1, "pian", "1片"), ("zh-Hant", 3, "xiang", "3項")])
def test_counts_carry_their_measure_words(chosen, n, measure, text):
    with script.use(chosen):
        assert numbers.count(n, measure) == text


def test_percentages_and_percentage_points():
    with script.use("zh-Hant"):
        assert (numbers.percent(95.0), numbers.percent(33.333), numbers.points(12.5)) == \
            ("95%", "33.3%", "12.5個百分點")
    with script.use("zh-Hans"):
        assert numbers.points(30) == "30个百分点"


@pytest.mark.parametrize(("day", "month_end", "ten_days"), [
    ("2014-03-31", "2014年3月底", "2014年3月下旬"), ("2014-03-30", "2014年3月30日", "2014年3月下旬"),
    ("2014-02-28", "2014年2月底", "2014年2月下旬"), ("2016-02-28", "2016年2月28日", "2016年2月下旬"),
    ("2014-04-10", "2014年4月10日", "2014年4月上旬"), ("2014-04-11", "2014年4月11日", "2014年4月中旬")])
def test_dates_as_the_source_writes_them(day, month_end, ten_days):
    assert (numbers.month_end(day), numbers.ten_days(day), numbers.date("2014-01-10")) == \
        (month_end, ten_days, "2014年1月10日")


@pytest.mark.parametrize(("n", "text"), [(1, "一"), (10, "十"), (12, "十二"), (20, "二十"), (99, "九十九")])
def test_chinese_numerals_for_headings(n, text):
    assert numbers.chinese_numeral(n) == text


def test_tables_show_wan_with_two_decimals_and_grouping():
    with script.use("zh-Hans"):
        assert (numbers.format_wan(17_260_000), numbers.format_wan(None), numbers.format_yi(3_633_000_000)) == \
            ("1,726.00 万元", "-", "36.33 亿元")
