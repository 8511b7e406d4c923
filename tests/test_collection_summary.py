"""Collection summaries (issue 16): stories grouped, titled, counted; one story synthesised."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.api import summarize
from qa.config import Settings
from qa.ingestion.pipeline import ingest
from qa.text.fluency import claim_problems
from tests.helpers import ROOT, run

EVAL_ARTICLES = ROOT / "eval" / "articles"
BOAT_FIRE = EVAL_ARTICLES / "04_california_boat_fire.txt"


@pytest.fixture(scope="module")
def eleven(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The 11 articles of eval/: 11 different stories."""
    settings = Settings.from_env(home=tmp_path_factory.mktemp("qa-home"), collection="eleven")
    report = ingest(sorted(EVAL_ARTICLES.glob("*.txt")), settings=settings)
    assert report.count("added") == 11
    return settings


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Three versions of one story: the boat-fire article whole, cut, and re-headlined."""
    folder = tmp_path_factory.mktemp("versions")
    raw = BOAT_FIRE.read_text(encoding="utf-8")
    source, _headline, body = raw.split("\n", 2)
    paragraphs = body.strip().split("\n\n")
    (folder / "a.txt").write_text(raw, encoding="utf-8")
    (folder / "b.txt").write_text(
        f"{source}\n33 feared dead as dive boat burns off California\n\n"
        + "\n\n".join(paragraphs[1:4])
        + "\n",
        encoding="utf-8",
    )
    (folder / "c.txt").write_text(
        f"{source}\nCoast Guard ends search after boat fire\n\n"
        + "\n\n".join([paragraphs[1], *paragraphs[4:]])
        + "\n",
        encoding="utf-8",
    )
    settings = Settings.from_env(home=tmp_path_factory.mktemp("qa-home"), collection="versions")
    report = ingest(sorted(folder.glob("*.txt")), settings=settings)
    assert report.count("added") == 3
    return settings


def test_eleven_stories_are_each_named_or_counted(eleven: Settings) -> None:
    summary = summarize(sentences=5, max_stories=5, settings=eleven)
    assert len(summary.stories) == 11
    assert sum(story.shown for story in summary.stories) == 5
    assert all(len(story.doc_ids) == 1 for story in summary.stories)
    headings = [claim.heading for claim in summary.claims if claim.heading]
    assert headings == [story.title for story in summary.stories if story.shown]
    # One sentence for each of the five shown stories, each cited.
    assert len(summary.claims) == 5
    assert all(claim.citations for claim in summary.claims)
    line = summary.coverage_line
    assert line.startswith("5 stories from 5 articles: ")
    assert "and 6 more stories: " in line
    for story in summary.stories:
        assert story.title in line
    assert summary.text.endswith(line)


def test_all_stories_shown_when_allowed(eleven: Settings) -> None:
    summary = summarize(sentences=5, max_stories=20, settings=eleven)
    assert all(story.shown for story in summary.stories)
    assert len({claim.heading for claim in summary.claims if claim.heading}) == 11
    assert "more stor" not in summary.coverage_line
    previous = None
    for claim in summary.claims:
        if claim.heading:
            previous = None
        assert claim_problems(claim.text, previous) == []
        previous = claim.text


def test_versions_of_one_story_are_one_synthesis_citing_each(versions: Settings) -> None:
    summary = summarize(sentences=5, settings=versions)
    assert len(summary.stories) == 1
    assert len(summary.stories[0].doc_ids) == 3
    assert summary.claims[0].heading == summary.stories[0].title
    assert sum(1 for claim in summary.claims if claim.heading) == 1
    assert {citation.doc_id for citation in summary.citations} == set(summary.stories[0].doc_ids)
    # Shared facts once: no sentence is said twice.
    texts = [claim.text for claim in summary.claims]
    assert len(texts) == len(set(texts))
    title = summary.stories[0].title
    assert summary.coverage_line == f"1 story from 3 articles: {title} (3 articles)."


def test_cli_max_stories(eleven: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_HOME", str(eleven.home))
    code, out, err = run("summarize", "--collection", "eleven", "--max-stories", "2", "-n", "4")
    assert code == 0, err
    assert "2 stories from 2 articles" in out
    assert "and 9 more stories" in out
    code, _, err = run("summarize", "--collection", "eleven", "--max-stories", "0")
    assert code != 0 and "--max-stories" in err


def test_one_article_has_no_stories(tmp_path: Path) -> None:
    settings = Settings.from_env(home=tmp_path, collection="one")
    ingest([BOAT_FIRE], settings=settings)
    summary = summarize(settings=settings)
    assert summary.stories == [] and summary.coverage_line == ""
    assert not any(claim.heading for claim in summary.claims)
