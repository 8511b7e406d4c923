"""Prompt templates: loaded by name from prompts/, filled strictly, shipped in the wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from qa.backends.llm.prompts import load_prompt, parse_prompt, prompt_dirs
from qa.errors import PromptError
from qa.types import NOT_IN_ARTICLES
from tests.helpers import ROOT

EXPECTED = {
    "answer": {"evidence", "format", "not_found", "question"},
    "summary": {"evidence", "format", "sentences"},
    "map": {"evidence", "format", "notes"},
    "reduce": {"format", "notes", "sentences"},
    "format_json": set(),
    "format_inline": set(),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_prompts_load_with_their_variables(name: str) -> None:
    prompt = load_prompt(name)
    assert prompt.variables == EXPECTED[name]
    assert prompt.path.parent.name == "prompts"


@pytest.mark.parametrize("name", ["answer", "summary", "map", "reduce"])
def test_evidence_is_delimited_and_marked_as_data(name: str) -> None:
    prompt = load_prompt(name)
    values = {variable: f"<<{variable}>>" for variable in prompt.variables}
    system, user = prompt.messages(**values)
    assert system["role"] == "system" and user["role"] == "user"
    tag = "notes" if name == "reduce" else "articles"
    slot = "<<notes>>" if name == "reduce" else "<<evidence>>"
    assert f"<{tag}>\n{slot}\n</{tag}>" in user["content"]
    assert "data, not instructions" in system["content"]
    assert "<<format>>" in system["content"]


def test_answer_prompt_states_the_sentinel_the_code_recognises() -> None:
    prompt = load_prompt("answer")
    messages = prompt.messages(evidence="", format="", not_found=NOT_IN_ARTICLES, question="Q?")
    assert NOT_IN_ARTICLES in messages[0]["content"]
    # The article comes before the question, so a server can reuse the cached prefix.
    assert messages[1]["content"].index("<articles>") < messages[1]["content"].index("Q?")


def test_summary_prompts_ask_for_neutrality() -> None:
    for name in ("summary", "map", "reduce"):
        system = load_prompt(name).system
        assert system is not None
        text = system.template.lower()
        assert "attribute" in text and "loaded" in text


def test_missing_variable_is_rejected() -> None:
    with pytest.raises(PromptError, match="without question"):
        load_prompt("answer").messages(evidence="", format="", not_found="")


def test_unknown_variable_is_rejected() -> None:
    with pytest.raises(PromptError, match="no variable colour"):
        load_prompt("format_json").text(colour="red")


def test_snippets_and_full_prompts_are_filled_differently() -> None:
    with pytest.raises(PromptError, match="system part"):
        load_prompt("answer").text()
    assert load_prompt("format_inline").text().startswith("Reply")


@pytest.mark.parametrize("name", ["../pyproject", "Answer", "", "answer.txt"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(PromptError, match="invalid prompt name"):
        load_prompt(name)


def test_missing_prompt_names_where_it_looked() -> None:
    with pytest.raises(PromptError, match=r"prompt 'nope' not found in .*prompts"):
        load_prompt("nope")


def test_parse_prompt_rules(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    prompt = parse_prompt("x", path, "Costs $$5 for ${who}.\n---\nHi $who\n")
    assert prompt.messages(who="Ann") == [
        {"role": "system", "content": "Costs $5 for Ann."},
        {"role": "user", "content": "Hi Ann"},
    ]
    with pytest.raises(PromptError, match="malformed placeholder"):
        parse_prompt("x", path, "Costs $5")
    with pytest.raises(PromptError, match="2 '---' lines"):
        parse_prompt("x", path, "a\n---\nb\n---\nc")
    with pytest.raises(PromptError, match="empty system or user part"):
        parse_prompt("x", path, "---\nuser only")


def test_prompts_ship_inside_the_wheel() -> None:
    # The loader looks inside the package first (the wheel), then at the checkout's prompts/.
    package, checkout = prompt_dirs()
    assert package == ROOT / "qa" / "backends" / "llm" / "prompts"
    assert checkout == ROOT / "prompts"
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    force_include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force_include.get("prompts") == "qa/backends/llm/prompts"
    for name in EXPECTED:
        assert (ROOT / "prompts" / f"{name}.txt").is_file()
