"""Cleaning: page debris goes, article text stays, by general rules."""

from __future__ import annotations

import pytest

from qa.ingestion.clean import clean_text, extract_html, extract_html_fallback
from qa.types import DocumentMeta
from tests.helpers import HTML_PAGE

SEED_DEBRIS = [
    "Contributor",
    "Getty Images",
    "speaks during a bilateral meeting",
    "This developing story is being updated",
    "LEAVE A REPLY",
    "Please enter your comment",
    "Please enter your name here",
    "# source",
]


def test_seed_debris_is_removed_and_text_kept(seed_text: str) -> None:
    article = clean_text(seed_text)
    assert article.title == (
        "Russia talks of cautious optimism on Ukraine ceasefire but stands by caveats"
    )
    for debris in SEED_DEBRIS:
        assert debris.lower() not in article.text.lower(), debris
    paragraphs = article.text.split("\n\n")
    assert not any(paragraph.strip() in {"0", "4"} for paragraph in paragraphs)
    assert paragraphs[0].startswith("Russia struck a sedate tone on Friday")
    assert paragraphs[-1].endswith("expressed solidarity with Mr. Trump’s position.”")
    assert len(paragraphs) == 10
    assert "\u00a0" not in article.text


def test_general_rules_hold_on_another_page() -> None:
    raw = "\n".join(
        [
            "Flood waters rise in the valley",
            "",
            "12",
            "Share | Tweet | Email",
            "",
            "Rescuers wade through a flooded street in Valleytown on Monday.",
            "Photo: Jane Doe / Reuters",
            "",
            "Flood waters rose across the valley on Monday, officials said.",
            "",
            "Read more: Storm season starts early",
            "",
            "The mayor said 40 homes were evacuated.",
            "",
            "Comments (3)",
            "Great article!",
        ]
    )
    article = clean_text(raw)
    assert article.title == "Flood waters rise in the valley"
    assert article.text == (
        "Flood waters rose across the valley on Monday, officials said.\n\n"
        "The mayor said 40 homes were evacuated."
    )


def test_headline_followed_by_credit_is_kept_as_title() -> None:
    article = clean_text("Markets fall\n\nGetty Images | Photo\n\nStocks fell on Friday.")
    assert article.title == "Markets fall"
    assert article.text == "Stocks fell on Friday."


def test_markdown_syntax_is_stripped() -> None:
    raw = (
        "# Council votes\n\nThe **council** voted [yes](http://x.example) on Monday."
        "\n\n![map](m.png)"
    )
    article = clean_text(raw, markdown=True)
    assert article.title == "Council votes"
    assert article.text == "The council voted yes on Monday."


def test_list_items_stay_separate_paragraphs() -> None:
    article = clean_text("Title here\n\nThe plan has parts:\n- first, roads.\n- second, bridges.")
    assert article.text.split("\n\n") == [
        "The plan has parts:",
        "first, roads.",
        "second, bridges.",
    ]


def test_html_article_body_and_metadata_are_extracted() -> None:
    article = extract_html(HTML_PAGE)
    assert article.title == "New dam opens on the river"
    paragraphs = article.text.split("\n\n")
    assert paragraphs[:4] == [
        "The river town of Example finally has its dam, two years late and at twice the "
        "price first announced.",
        "The new dam opened on Tuesday after six years of building.",
        "Engineers said it will supply power to 200,000 homes.",
        "Critics disagreed.",
    ]
    assert len(paragraphs) == 6
    for furniture in ("Share on", "Photo: AP", "Related", "First!", "Copyright", "masthead"):
        assert furniture not in article.text
    assert article.meta == DocumentMeta(
        site="Example News",
        author="Ann Writer",
        published="2025-03-14",
        url="https://news.example/2025/03/14/dam-opens",
        language="en",
    )


def test_html_without_article_element_uses_body() -> None:
    page = (
        "<html><body><nav>Menu</nav><h1>Quiet day</h1>"
        "<p>Nothing happened today, police said.</p></body></html>"
    )
    article = extract_html(page)
    assert article.title == "Quiet day"
    assert article.text == "Nothing happened today, police said."
    assert article.meta == DocumentMeta()


def test_qa_parser_is_the_fallback_when_trafilatura_finds_nothing() -> None:
    # A fragment saved as .html: trafilatura does not take it for a page; qa's parser reads it.
    page = "<p>The council meets on Thursday at noon in the town hall, the clerk said.</p>"
    article = extract_html(page)
    assert article.text == extract_html_fallback(page).text
    assert article.text == "The council meets on Thursday at noon in the town hall, the clerk said."


def test_prose_that_starts_like_page_furniture_is_kept() -> None:
    sentences = [
        "Published on Monday, the report found that rents rose in every district.",
        "Related research by the same team reached the opposite conclusion last year.",
        "Copyright holders sued the streaming company in federal court on Tuesday.",
    ]
    article = clean_text("Rents rise\n\n" + "\n\n".join(sentences))
    assert article.text.split("\n\n") == sentences


# Regressions found by the property tests (tests/test_properties.py).


def test_every_kind_of_line_break_and_space_is_normalised() -> None:
    # U+2028, \v and U+1680 used to survive cleaning inside a paragraph.
    article = clean_text("Storm hits\n\nRain fell\u2028all day.\x0bRoads\u1680closed.")
    assert article.title == "Storm hits"
    assert article.text == "Rain fell all day. Roads closed."


def test_html_title_with_a_line_break_is_one_line() -> None:
    article = extract_html("<title>Dam opens\non the river</title><p>Water flowed.</p>")
    assert article.title == "Dam opens on the river"


def test_markdown_removed_mid_line_leaves_single_spaces() -> None:
    article = clean_text("Title\n\nThe ** vote ** passed.", markdown=True)
    assert article.text == "The vote passed."


# No silent cuts: what the cleaner removes is counted, and a large cut is not made.

COMMENTED = (
    "Bridge reopens after repairs\n\n"
    "The river bridge reopened on Monday after three months of repairs.\n\n"
    "{heading}\n\n"
    "Officials said the repairs cost two million euros, more than planned.\n\n"
    "The next inspection of the bridge is due in May, the council said.\n"
)


@pytest.mark.parametrize("heading", ["Comments", "LEAVE A REPLY"])
def test_a_lone_comment_heading_inside_an_article_cuts_nothing(heading: str) -> None:
    article = clean_text(COMMENTED.format(heading=heading))
    assert article.text.split("\n\n") == [
        "The river bridge reopened on Monday after three months of repairs.",
        "Officials said the repairs cost two million euros, more than planned.",
        "The next inspection of the bridge is due in May, the council said.",
    ]
    [dropped] = article.dropped
    assert (dropped.kind, dropped.kept, dropped.paragraphs, dropped.after) == (
        "tail",
        True,
        2,
        heading,
    )
    assert "--trim-tail" in dropped.describe()


def test_trim_tail_cuts_and_says_how_much() -> None:
    article = clean_text(COMMENTED.format(heading="Comments"), trim_tail=True)
    assert article.text == "The river bridge reopened on Monday after three months of repairs."
    [dropped] = article.dropped
    assert dropped.describe() == "dropped 2 paragraphs after 'Comments' (24 words)"


def test_a_small_comment_section_is_cut_and_reported() -> None:
    body = " ".join(["The council met on Monday and approved the budget for next year."] * 8)
    article = clean_text(f"Budget passes\n\n{body}\n\nComments\n\nFirst! Nice.\n")
    assert article.text == body
    assert [dropped.describe() for dropped in article.dropped] == [
        "dropped 1 paragraph after 'Comments' (2 words)"
    ]


def test_furniture_lines_are_counted() -> None:
    article = clean_text(
        "Storm hits coast\n\nShare\n\nUpdated 10:42\n\nA storm hit the coast on Sunday.\n\n"
        "Subscribe to our newsletter\n"
    )
    assert article.text == "A storm hit the coast on Sunday."
    [dropped] = article.dropped
    assert (dropped.kind, dropped.paragraphs) == ("furniture", 3)
