"""Eval datasets: the schema of ``gold.jsonl`` and ``summary_gold.jsonl``, loading and validation.

:func:`check_dataset` lists every malformed row and every gold string that does
not occur in its article, with the row and the reason; :func:`load_dataset`
raises :class:`~qa.errors.EvalError` on the first such problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import EvalError
from qa.eval.match import contains_run, normalise, party_aliases

KINDS = ("factoid", "list", "why", "who", "number", "unanswerable")
_GOLD_KEYS: dict[str, type] = {
    "article": str, "id": str, "question": str, "gold_facts": list, "answerable": bool,
    "kind": str,
}  # fmt: skip
_SUMMARY_KEYS: dict[str, type] = {
    "article": str, "key_facts": list, "parties": list, "loaded_terms": list,
}  # fmt: skip


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    article: str
    question: str
    gold_facts: tuple[str, ...]
    answerable: bool
    kind: str


@dataclass(frozen=True)
class SummaryGold:
    article: str
    key_facts: tuple[str, ...]
    parties: tuple[str, ...]
    loaded_terms: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    root: Path
    articles: dict[str, Path]
    questions: tuple[GoldQuestion, ...]
    summaries: tuple[SummaryGold, ...]


def article_text(raw: str) -> str:
    """An article file's text without its ``# source:`` attribution line."""
    if raw.startswith("# source:"):
        _, _, rest = raw.partition("\n")
        return rest
    return raw


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _read_jsonl(path: Path, problems: list[str]) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    if not path.is_file():
        problems.append(f"{path.name}: file missing")
        return rows
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path.name}:{number}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                problems.append(f"{path.name}:{number}: not a JSON object")
                continue
            rows.append((number, row))
    return rows


def _check_keys(
    row: dict[str, Any], keys: Mapping[str, type], where: str, problems: list[str]
) -> bool:
    ok = True
    for key, kind in keys.items():
        if not isinstance(row.get(key), kind):
            problems.append(f"{where}: key {key!r} missing or not a {kind.__name__}")
            ok = False
    extra = sorted(set(row) - set(keys))
    if extra:
        problems.append(f"{where}: unexpected keys {extra}")
    return ok


class _Validator:
    """Checks one dataset folder, file by file, collecting one line per problem.

    Each file kind has its own method (articles, ``gold.jsonl`` rows,
    ``summary_gold.jsonl`` rows, then coverage across them); every problem names
    the file, the row and the reason, and checking goes on after a problem so
    that ``qa eval --check`` lists them all at once.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        self.files: list[Path] = []
        # Article name -> (collapsed text, normalised words), for phrase checks.
        self.texts: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.asked: dict[str, int] = {}
        self.summarised: set[str] = set()

    def run(self) -> Dataset | None:
        if not self.root.is_dir():
            self.problems.append(f"{self.root}: not a folder")
            return None
        self.read_articles()
        # A dataset without summary_gold.jsonl checks questions only (e.g. reworded
        # questions); one without gold.jsonl checks summaries only (e.g. articles with
        # summary gold and no questions). It needs at least one of the two.
        has_summaries = (self.root / "summary_gold.jsonl").exists()
        has_questions = (self.root / "gold.jsonl").exists() or not has_summaries
        questions = self.read_questions() if has_questions else []
        summaries = self.read_summaries() if has_summaries else []
        self.check_coverage(has_questions, has_summaries)
        if self.problems:
            return None
        return Dataset(
            root=self.root,
            articles={path.name: path for path in self.files},
            questions=tuple(questions),
            summaries=tuple(summaries),
        )

    # -- articles/ ----------------------------------------------------------------

    def read_articles(self) -> None:
        article_dir = self.root / "articles"
        self.files = sorted(article_dir.glob("*.txt")) if article_dir.is_dir() else []
        if not self.files:
            self.problems.append(f"{article_dir}: no .txt articles")
        for path in self.files:
            try:
                raw = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.problems.append(f"articles/{path.name}: cannot be read ({exc})")
                continue
            if not raw.startswith("# source:"):
                self.problems.append(f"articles/{path.name}: first line is not '# source: ...'")
            body = article_text(raw)
            self.texts[path.name] = (_collapse(body), normalise(body))

    def check_phrase(self, value: Any, article: str, where: str, what: str) -> bool:
        """Whether ``value`` is a non-empty string standing as whole words in ``article``."""
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{where}: empty or non-string {what}: {value!r}")
            return False
        if article not in self.texts:
            return False
        collapsed, tokens = self.texts[article]
        if _collapse(value) not in collapsed:
            self.problems.append(f"{where}: {what} not in {article}: {value!r}")
            return False
        if not contains_run(tokens, normalise(value)):
            self.problems.append(
                f"{where}: {what} only occurs inside longer words of {article}: {value!r}"
            )
            return False
        return True

    def check_article(self, value: Any, where: str) -> bool:
        if not isinstance(value, str):
            return False
        if value not in self.texts:
            self.problems.append(f"{where}: article file not found: articles/{value}")
            return False
        return True

    # -- gold.jsonl -----------------------------------------------------------------

    def read_questions(self) -> list[GoldQuestion]:
        questions: list[GoldQuestion] = []
        seen_ids: set[str] = set()
        for number, row in _read_jsonl(self.root / "gold.jsonl", self.problems):
            question = self.question_row(number, row, seen_ids)
            if question is not None:
                questions.append(question)
        if questions and all(q.answerable for q in questions):
            self.problems.append(
                "gold.jsonl: no unanswerable question, so abstention cannot be measured"
            )
        if questions and not any(q.answerable for q in questions):
            self.problems.append("gold.jsonl: no answerable question")
        return questions

    def question_row(
        self, number: int, row: dict[str, Any], seen_ids: set[str]
    ) -> GoldQuestion | None:
        problems = self.problems
        where = f"gold.jsonl:{number}"
        qid = row.get("id")
        if isinstance(qid, str):
            where = f"gold.jsonl:{number} ({qid})"
        typed = _check_keys(row, _GOLD_KEYS, where, problems)
        if isinstance(qid, str):
            if not qid.strip() or qid != qid.strip() or " " in qid:
                problems.append(f"{where}: id must be a non-empty word without spaces")
            if qid in seen_ids:
                problems.append(f"{where}: duplicate id")
            seen_ids.add(qid)
        known_article = self.check_article(row.get("article"), where)
        if known_article:
            self.asked[row["article"]] = self.asked.get(row["article"], 0) + 1
        if isinstance(row.get("question"), str) and not row["question"].strip():
            problems.append(f"{where}: empty question")
        kind, answerable, facts = row.get("kind"), row.get("answerable"), row.get("gold_facts")
        if isinstance(kind, str) and kind not in KINDS:
            problems.append(f"{where}: unknown kind {kind!r} (use one of {', '.join(KINDS)})")
        if (
            isinstance(answerable, bool)
            and isinstance(kind, str)
            and answerable == (kind == "unanswerable")
        ):
            problems.append(f"{where}: answerable={answerable} but kind={kind!r}")
        facts_ok = True
        if isinstance(facts, list) and isinstance(answerable, bool):
            if not answerable and facts:
                problems.append(f"{where}: unanswerable row has gold facts")
                facts_ok = False
            if answerable and not facts:
                problems.append(f"{where}: answerable row has no gold facts")
                facts_ok = False
            if len({json.dumps(fact) for fact in facts}) != len(facts):
                problems.append(f"{where}: repeated gold fact")
                facts_ok = False
            for fact in facts:
                article = row["article"] if known_article else ""
                facts_ok = self.check_phrase(fact, article, where, "gold fact") and facts_ok
        if not (typed and known_article and facts_ok):
            return None
        return GoldQuestion(
            id=row["id"],
            article=row["article"],
            question=row["question"],
            gold_facts=tuple(row["gold_facts"]),
            answerable=row["answerable"],
            kind=row["kind"],
        )

    # -- summary_gold.jsonl ---------------------------------------------------------

    def read_summaries(self) -> list[SummaryGold]:
        summaries: list[SummaryGold] = []
        for number, row in _read_jsonl(self.root / "summary_gold.jsonl", self.problems):
            summary = self.summary_row(number, row)
            if summary is not None:
                summaries.append(summary)
        return summaries

    def summary_row(self, number: int, row: dict[str, Any]) -> SummaryGold | None:
        problems = self.problems
        where = f"summary_gold.jsonl:{number}"
        article = row.get("article")
        if isinstance(article, str):
            where = f"summary_gold.jsonl:{number} ({article})"
        typed = _check_keys(row, _SUMMARY_KEYS, where, problems)
        if isinstance(article, str):
            if article in self.summarised:
                problems.append(f"{where}: second summary row for the same article")
            self.summarised.add(article)
        if not self.check_article(article, where) or not typed or not isinstance(article, str):
            return None
        ok = True
        if not row["key_facts"]:
            problems.append(f"{where}: no key facts")
            ok = False
        for fact in row["key_facts"]:
            ok = self.check_phrase(fact, article, where, "key fact") and ok
        for term in row["loaded_terms"]:
            ok = self.check_phrase(term, article, where, "loaded term") and ok
        if not row["parties"]:
            problems.append(f"{where}: no parties")
            ok = False
        for party in row["parties"]:
            if not isinstance(party, str) or not party_aliases(party):
                problems.append(f"{where}: empty or non-string party: {party!r}")
                ok = False
            elif not any(
                contains_run(self.texts[article][1], normalise(alias))
                for alias in party_aliases(party)
            ):
                problems.append(f"{where}: no alias of party {party!r} occurs in {article}")
                ok = False
        if not ok:
            return None
        return SummaryGold(
            article=article,
            key_facts=tuple(row["key_facts"]),
            parties=tuple(row["parties"]),
            loaded_terms=tuple(row["loaded_terms"]),
        )

    # -- across files -----------------------------------------------------------------

    def check_coverage(self, has_questions: bool, has_summaries: bool) -> None:
        """Every article is asked about and summarised, where the dataset has that file."""
        for name in self.texts:
            if has_questions and name not in self.asked:
                self.problems.append(f"articles/{name}: no question in gold.jsonl")
            if has_summaries and name not in self.summarised:
                self.problems.append(f"articles/{name}: no row in summary_gold.jsonl")


def _validate(root: Path) -> tuple[list[str], Dataset | None]:
    validator = _Validator(root)
    dataset = validator.run()
    return validator.problems, dataset


def check_dataset(dataset_dir: Path | str) -> list[str]:
    """Every problem of an eval dataset, one line each naming the row and the reason.

    Returns an empty list for a valid dataset; never raises for a bad one.
    """
    problems, _ = _validate(Path(dataset_dir))
    return problems


def load_dataset(dataset_dir: Path | str) -> Dataset:
    problems, dataset = _validate(Path(dataset_dir))
    if dataset is None:
        shown = "; ".join(problems[:3]) + (
            f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        raise EvalError(
            f"eval dataset {dataset_dir} is invalid: {shown}",
            fix=f"run `qa eval {dataset_dir} --check` for the full list",
        )
    return dataset
