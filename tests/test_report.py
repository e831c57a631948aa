"""Tests of vslerp.report: the files exist and parse, and user text cannot inject markup.

The HTML is parsed with the standard library's parser: every tag must be one the templates use,
no attribute may be an event handler, every image must be an embedded data URI, and the
user's strings must come back as text, not markup.
"""

from __future__ import annotations

import csv
import json
import threading
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vslerp.errors import InputError
from vslerp.geometry import analyze
from vslerp.imaging import save_image
from vslerp.jobs import EmbeddedSource
from vslerp.ranking import rank_sources
from vslerp.report import write_geometry_report, write_ranking_report
from vslerp.tiny import generated_images

EVIL = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "a dog — ünïcödé 猫 🐈",
    "",
    "</textarea><style>body{display:none}</style>",
]
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "div", "h1", "h2",
                "h3", "p", "ul", "ol", "li", "b", "main", "section", "sub", "span", "figure",
                "img", "figcaption", "table", "thead", "tbody", "tr", "th", "td", "details",
                "summary", "code", "blockquote", "br", "footer", "dl", "dt", "dd"}


class Page(HTMLParser):
    """Collects tags, attributes and text of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if not self._in_style:
            self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def assert_safe(page: Page) -> None:
    for tag, attrs in page.tags:
        assert tag in ALLOWED_TAGS, f"unexpected <{tag}>"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} on <{tag}>"
            if name in ("src", "href"):
                assert value and value.startswith("data:image/"), f"{name}={value!r}"
    assert sum(tag == "style" for tag, _ in page.tags) == 1


def make_source(name, X, *, labels=None, paths=None, modality="image", failed=()):
    n = len(X)
    return EmbeddedSource(name=name, modality=modality, ids=[f"id{i}" for i in range(n)],
                          labels=labels if labels is not None else [f"{name} {i}" for i in
                                                                    range(n)],
                          paths=paths, embeddings=np.asarray(X, np.float32),
                          failed=list(failed), encoder_id="tiny")


@pytest.fixture(scope="module")
def text_ranking():
    rng = np.random.default_rng(0)
    d = 12
    centre = rng.standard_normal(d) * 2
    ref = centre + rng.standard_normal((30, d))
    evil = centre + 0.5 * rng.standard_normal((len(EVIL), d))
    plain = centre + 1.5 * rng.standard_normal((20, d))
    return rank_sources(
        make_source("human <i>captions</i>", ref, modality="text"),
        [make_source("=cmd|' /C calc'!A0", evil, labels=EVIL, modality="text",
                     failed=[("7", "empty caption"), ("<b>8</b>", "<script>x</script>")]),
         make_source("plain", plain, modality="text")],
        examples=len(EVIL))


@pytest.fixture(scope="module")
def text_report(text_ranking, tmp_path_factory):
    out = tmp_path_factory.mktemp("text_report")
    return out, write_ranking_report(text_ranking, out)


def test_ranking_report_writes_every_file(text_report):
    out, paths = text_report
    assert set(paths) == {"html", "histogram", "cdf", "ranking_csv", "ranking_json",
                          "scores_csv"}
    for path in paths.values():
        assert path.parent == out and path.is_file() and path.stat().st_size > 0
    for key in ("histogram", "cdf"):
        with Image.open(paths[key]) as im:
            assert im.format == "PNG" and im.width > 400 and im.height > 200
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_ranking_json_has_the_documented_schema(text_report, text_ranking):
    data = json.loads(text_report[1]["ranking_json"].read_text(encoding="utf-8"))
    assert data["encoder"] == {"id": "tiny", "dim": 12}
    assert data["reference"]["name"] == "human <i>captions</i>"
    rows = {row["name"]: row for row in data["sources"]}
    assert set(rows) == {"human <i>captions</i>", "=cmd|' /C calc'!A0", "plain"}
    for row in data["sources"]:
        for key in ("n", "failed", "mean_conformity", "median_conformity", "std_conformity",
                    "kl", "w1", "ks", "rank", "rank_by_mean"):
            assert key in row
    evil = rows["=cmd|' /C calc'!A0"]
    assert evil["n"] == len(EVIL) and evil["failed"] == 2
    assert evil["w1"] == pytest.approx(text_ranking["=cmd|' /C calc'!A0"].w1)
    assert data["failed"]["=cmd|' /C calc'!A0"][1] == {"id": "<b>8</b>",
                                                        "reason": "<script>x</script>"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_scores_csv_lists_every_sample_with_neutralised_cells(text_report, text_ranking):
    rows = read_csv(text_report[1]["scores_csv"])
    assert list(rows[0]) == ["source", "id", "item", "conformity", "estimated"]
    assert len(rows) == sum(r.n for r in text_ranking.rows)
    evil_rows = [r for r in rows if "cmd" in r["source"]]
    assert len(evil_rows) == len(EVIL)
    for row, caption in zip(evil_rows, EVIL, strict=True):
        for cell in (row["source"], row["item"]):
            assert not cell.startswith(("=", "+", "-", "@")), cell
        assert caption in row["item"]
    by_source = text_ranking["=cmd|' /C calc'!A0"]
    np.testing.assert_allclose([float(r["conformity"]) for r in evil_rows],
                               by_source.conformity, rtol=0, atol=1e-12)
    np.testing.assert_allclose([float(r["estimated"]) for r in evil_rows],
                               by_source.estimated, rtol=0, atol=1e-12)


def test_ranking_csv_has_one_row_per_source_in_rank_order(text_report, text_ranking):
    rows = read_csv(text_report[1]["ranking_csv"])
    assert [int(r["rank"]) for r in rows] == [0, 1, 2]
    for key in ("name", "n", "failed", "mean_conformity", "kl", "w1", "ks", "rank_by_mean"):
        assert key in rows[0]
    for row in rows:
        assert not row["name"].startswith(("=", "+", "-", "@"))
        assert float(row["w1"]) == pytest.approx(next(
            r.w1 for r in text_ranking.rows if r.name in row["name"]))


def test_html_escapes_every_user_string(text_report):
    path = text_report[1]["html"]
    page = parse(path)
    assert_safe(page)
    raw = path.read_text(encoding="utf-8")
    assert "<script" not in raw and "<i>captions" not in raw and "<b>8</b>" not in raw
    assert "onerror" not in [name for _, attrs in page.tags for name in attrs]
    text = "".join(page.text)
    for caption in EVIL:
        if caption:
            assert caption in text  # shown as text, exactly
    assert "human <i>captions</i>" in text
    assert "(empty)" in text  # the empty caption is shown as such


def test_html_is_self_contained_with_embedded_plots_and_collapsed_failures(text_report):
    raw = text_report[1]["html"].read_text(encoding="utf-8")
    page = parse(text_report[1]["html"])
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert sum(src.startswith("data:image/png;base64,") for src in images) == 2
    assert "http://" not in raw.replace("http://evil.example", "")
    assert "https://" not in raw
    details = [tag for tag, _ in page.tags if tag == "details"]
    assert len(details) == 1  # only the source with failed items
    assert "Content-Security-Policy" in raw


def test_image_report_embeds_thumbnails_and_marks_missing_files(tmp_path):
    rng = np.random.default_rng(1)
    d = 10
    centre = rng.standard_normal(d) * 2
    folder = tmp_path / "imgs"
    paths = []
    for i, im in enumerate(generated_images(6, 40)):
        paths.append(save_image(im, folder / f"<img onerror=x>{i}.png"))
    paths[5].unlink()  # gone by the time the report is written
    ref = make_source("real", centre + rng.standard_normal((6, d)), paths=paths,
                      labels=[p.name for p in paths])
    gen = make_source("gen", centre + rng.standard_normal((6, d)), paths=paths,
                      labels=[p.name for p in paths])
    ranking = rank_sources(ref, [gen], examples=3)
    out = write_ranking_report(ranking, tmp_path / "report")
    page = parse(out["html"])
    assert_safe(page)
    thumbs = [a["src"] for t, a in page.tags if t == "img" and a["src"].startswith(
        "data:image/jpeg")]
    shown_missing = "".join(page.text).count("image unavailable")
    # 3 most + 3 least of 6 samples: every file appears once per row, the deleted one too
    assert shown_missing == 2
    assert len(thumbs) == 2 * 2 * 3 - 2
    assert "<img onerror=x>0.png" in "".join(page.text)


def test_rewriting_into_the_same_folder_replaces_the_report(tmp_path, text_ranking):
    rng = np.random.default_rng(2)
    first = write_ranking_report(text_ranking, tmp_path)
    before = first["ranking_json"].read_text(encoding="utf-8")
    d = 12
    centre = rng.standard_normal(d)
    other = rank_sources(make_source("ref2", centre + rng.standard_normal((8, d))),
                         [make_source("src2", centre + rng.standard_normal((8, d)))])
    second = write_ranking_report(other, tmp_path)
    assert second == first
    after = json.loads(second["ranking_json"].read_text(encoding="utf-8"))
    assert after["reference"]["name"] == "ref2" and before != json.dumps(after)
    assert "src2" in second["html"].read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in first.values())


def test_bad_arguments_are_rejected(tmp_path, text_ranking):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(InputError) as info:
        write_ranking_report(text_ranking, afile)
    assert info.value.argument == "out_dir"
    with pytest.raises(InputError) as info:
        write_ranking_report("not a ranking", tmp_path)  # type: ignore[arg-type]
    assert info.value.argument == "ranking"
    with pytest.raises(InputError) as info:
        write_geometry_report(text_ranking, tmp_path)  # type: ignore[arg-type]
    assert info.value.argument == "report"


def test_reports_render_concurrently_from_threads(tmp_path, text_ranking):
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            write_ranking_report(text_ranking, tmp_path / f"r{i}")
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    a = (tmp_path / "r0" / "ranking.json").read_text(encoding="utf-8")
    assert a == (tmp_path / "r1" / "ranking.json").read_text(encoding="utf-8")
    for i in range(2):
        with Image.open(tmp_path / f"r{i}" / "histogram.png") as im:
            assert im.size == Image.open(tmp_path / "r0" / "histogram.png").size


# --------------------------------------------------------------------------- geometry report


@pytest.fixture(scope="module")
def geometry_inputs():
    rng = np.random.default_rng(3)
    d, n = 16, 60
    images = rng.standard_normal(d) * 2 + rng.standard_normal((n, d)) * np.linspace(2, .3, d)
    texts = rng.standard_normal(d) * 2 + rng.standard_normal((n, d)) * np.linspace(2, .3, d)
    return images, texts


def test_geometry_report_writes_json_figures_and_a_safe_page(tmp_path, geometry_inputs):
    images, texts = geometry_inputs
    report = analyze(images, texts, pairs=True, alphas=[-1, -0.5, 0, 0.5, 1])
    info = {"encoder": "<script>alert(1)</script>", "image source": '"><img onerror=1>'}
    paths = write_geometry_report(report, tmp_path, images=images, texts=texts, info=info)
    assert set(paths) == {"html", "json", "thin_shell", "spectrum", "separability",
                          "conformity", "contrastive", "conformity_kl"}
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["info"] == info
    expected = json.loads(json.dumps(report.to_dict()))
    assert {k: v for k, v in data.items() if k != "info"} == expected
    for key, path in paths.items():
        if key not in ("html", "json"):
            with Image.open(path) as im:
                assert im.format == "PNG" and im.width > 400
    page = parse(paths["html"])
    assert_safe(page)
    text = "".join(page.text)
    assert info["encoder"] in text and info["image source"] in text
    pngs = [a["src"] for t, a in page.tags if t == "img"]
    assert len(pngs) == 6 and all(s.startswith("data:image/png;base64,") for s in pngs)
    assert text.count("How to read it.") == 6


def test_geometry_report_without_pairs_drops_a_stale_contrastive_figure(tmp_path,
                                                                       geometry_inputs):
    images, texts = geometry_inputs
    alphas = [-1, 0, 1]
    with_pairs = write_geometry_report(analyze(images, texts, pairs=True, alphas=alphas),
                                       tmp_path)
    assert with_pairs["contrastive"].is_file()
    without = write_geometry_report(analyze(images, texts[:40], alphas=alphas), tmp_path)
    assert "contrastive" not in without
    assert not (tmp_path / "contrastive.png").exists()
    assert json.loads(without["json"].read_text(encoding="utf-8"))["contrastive"] is None
    assert "No image" in "".join(parse(without["html"]).text)


def test_geometry_report_checks_the_embeddings_it_is_given(tmp_path, geometry_inputs):
    images, texts = geometry_inputs
    report = analyze(images, texts, alphas=[0, 1])
    with pytest.raises(InputError) as info:
        write_geometry_report(report, tmp_path, images=images[:10], texts=texts)
    assert info.value.argument == "images"
    with pytest.raises(InputError) as info:
        write_geometry_report(report, tmp_path, info={"a": 1})  # type: ignore[dict-item]
    assert info.value.argument == "info"
    assert not any(tmp_path.iterdir())
