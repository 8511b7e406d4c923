"""The ``openai`` backend: answers and summaries from any OpenAI-compatible endpoint.

:class:`OpenAIBackend` is the Backend Protocol: it turns hits or documents into evidence
(:mod:`~qa.backends.llm.evidence`: numbered sentences, ids 1..N, inside ``<articles>``
delimiters, packed to the token budget), asks the model through the
:class:`~qa.backends.llm.client.ChatClient` (output forms, cache, retries, errors),
maps ids back to :class:`SentenceRef` and checks every citation with
:func:`~qa.backends.llm.replies.check_claims` before the Draft is returned: an id not in
the evidence is dropped, and a claim that shares no words with what it cites is flagged.
Input too long for one prompt is summarised by map-reduce: notes per group of sentences,
each carrying the sentences it cites, then a summary of the notes (condensed in rounds
while they do not fit).

Not handled here: HTTP, output forms, retries, error mapping and usage records
(:mod:`~qa.backends.llm.client`), the reply cache (:mod:`~qa.backends.llm.cache`),
fencing and packing article text (:mod:`~qa.backends.llm.evidence`), masking the API key
(:mod:`~qa.backends.llm.redaction`), parsing replies (:mod:`~qa.backends.llm.replies`)
and the prompt texts (:mod:`~qa.backends.llm.prompts`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from qa.backends.llm.client import ChatClient, RunInfo
from qa.backends.llm.evidence import Evidence, Unit, document_units, hit_units, pack
from qa.backends.llm.prompts import Prompt, load_prompt
from qa.backends.llm.replies import CheckResult, EvidenceItem, check_claims, flag_fragments
from qa.config import Settings
from qa.errors import BackendError
from qa.types import (
    NOT_IN_ARTICLES,
    Document,
    Draft,
    DraftClaim,
    Hit,
    SentenceRef,
    TextSink,
    Usage,
)

if TYPE_CHECKING:
    from qa.index.store import Store

log = logging.getLogger(__name__)


class OpenAIBackend:
    """The Backend Protocol over the official ``openai`` client."""

    name = "openai"

    def __init__(self, settings: Settings, *, max_output_tokens: int = 1024) -> None:
        self.settings = settings
        self.client = ChatClient(settings, max_output_tokens=max_output_tokens)
        self.base_url = self.client.base_url
        self.endpoint = self.client.endpoint
        self.model = self.client.model
        self.max_output_tokens = max_output_tokens
        self.tokens = self.client.tokens
        self.cache_dir = self.client.cache.folder

    def __repr__(self) -> str:
        return f"OpenAIBackend(endpoint={self.endpoint!r}, model={self.model!r})"

    @property
    def last_run(self) -> RunInfo:
        """What the last answer()/summarize() did: calls, evidence counts, fallbacks."""
        return self.client.run

    # The retry knobs live on the client, which retries; set here, they reach it.
    @property
    def backoff_base(self) -> float:
        """Seconds before the first retry; doubled each time, capped by max_backoff."""
        return self.client.backoff_base

    @backoff_base.setter
    def backoff_base(self, seconds: float) -> None:
        self.client.backoff_base = seconds

    @property
    def max_backoff(self) -> float:
        """The longest wait between two retries, in seconds (a Retry-After may ask more)."""
        return self.client.max_backoff

    @max_backoff.setter
    def max_backoff(self, seconds: float) -> None:
        self.client.max_backoff = seconds

    def count_tokens(self, text: str) -> int:
        return self.tokens.count(text)

    def _prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        return self.tokens.prompt(messages)

    @property
    def _usage(self) -> Usage:
        return self.client.usage

    # ---- the Backend Protocol ------------------------------------------------

    def answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None = None,
    ) -> Draft:
        draft = self._answer(question, hits, documents, on_text)
        draft.run = self.last_run.to_dict()
        return draft

    def summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        draft = self._summarize(documents, sentences)
        flag_fragments(draft.claims)
        draft.run = self.last_run.to_dict()
        return draft

    def _answer(
        self,
        question: str,
        hits: Sequence[Hit],
        documents: Mapping[str, Document],
        on_text: TextSink | None,
    ) -> Draft:
        self.client.start_run()
        units = hit_units(hits, documents)
        if not units:
            return Draft(claims=[], abstained=True, usage=self._usage)
        prompt = load_prompt("answer")
        values: dict[str, str | int] = {"question": question, "not_found": NOT_IN_ARTICLES}
        evidence = self._pack(prompt, values, "evidence", units)
        self.last_run.evidence_sentences = evidence.used
        self.last_run.omitted_sentences = evidence.omitted
        parsed = self.client.complete(
            "answer", prompt, {**values, "evidence": evidence.block}, on_text
        )
        if parsed.abstained:
            return Draft(claims=[], abstained=True, usage=self._usage)
        checked = check_claims("answer", parsed.claims, evidence.items)
        return self._draft(checked, checked.dropped)

    def _summarize(self, documents: Sequence[Document], sentences: int) -> Draft:
        self.client.start_run()
        units = document_units(documents)
        if not units:
            return Draft(claims=[], usage=self._usage)
        prompt = load_prompt("summary")
        values: dict[str, str | int] = {"sentences": sentences}
        whole = self._pack(prompt, values, "evidence", units, warn_omitted=False)
        self.last_run.evidence_sentences = len(units)
        if whole.omitted == 0:
            parsed = self.client.complete(
                "summary", prompt, {**values, "evidence": whole.block}, allow_abstain=False
            )
            if parsed.abstained:
                return Draft(claims=[], abstained=True, usage=self._usage)
            checked = check_claims("summary", parsed.claims, whole.items)
            return self._draft(checked, checked.dropped)
        return self._map_reduce(units, sentences)

    # ---- map-reduce ------------------------------------------------------------

    def _map_reduce(self, units: list[Unit], sentences: int) -> Draft:
        """Notes per group of sentences, then a summary of the notes.

        Each note carries the SentenceRefs (and texts) its own citations resolved
        to, so a summary sentence citing note 3 cites the original sentences
        behind note 3, and its quotes are checked against those sentences.
        """
        # The text of each sentence a note may cite, to check the quotes of what cites the note.
        texts = {unit.item.refs[0]: unit.text for unit in units}
        map_prompt = load_prompt("map")
        map_values: dict[str, str | int] = {"notes": max(3, sentences)}
        dropped: list[str] = []
        notes: list[Unit] = []
        remaining = units
        group = 0
        while remaining:
            group += 1
            evidence = self._pack(map_prompt, map_values, "evidence", remaining, warn_omitted=False)
            remaining = remaining[evidence.used :]
            parsed = self.client.complete(
                f"map {group}", map_prompt, {**map_values, "evidence": evidence.block}
            )
            checked = check_claims(f"map {group}", parsed.claims, evidence.items)
            dropped.extend(checked.dropped)
            notes.extend(_notes(checked, len(notes), texts))
        self.last_run.map_groups = group
        self.last_run.map_notes = len(notes)
        reduce_prompt = load_prompt("reduce")
        reduce_values: dict[str, str | int] = {"sentences": sentences}
        for round_number in range(1, 6):
            if not notes:
                return Draft(claims=[], usage=self._usage, dropped_citations=dropped)
            packed = self._pack(reduce_prompt, reduce_values, "notes", notes, warn_omitted=False)
            if packed.omitted == 0:
                parsed = self.client.complete(
                    "reduce",
                    reduce_prompt,
                    {**reduce_values, "notes": packed.block},
                    allow_abstain=False,
                )
                if parsed.abstained:
                    return Draft(
                        claims=[], abstained=True, usage=self._usage, dropped_citations=dropped
                    )
                checked = check_claims("summary", parsed.claims, packed.items)
                return self._draft(checked, dropped + checked.dropped)
            # Too many notes for one prompt: condense them in batches and go again.
            condensed: list[Unit] = []
            rest, batch = notes, 0
            while rest:
                batch += 1
                label = f"reduce {round_number}.{batch}"
                packed = self._pack(reduce_prompt, reduce_values, "notes", rest, warn_omitted=False)
                rest = rest[packed.used :]
                parsed = self.client.complete(
                    label,
                    reduce_prompt,
                    {**reduce_values, "notes": packed.block},
                    allow_abstain=False,
                )
                checked = check_claims(label, parsed.claims, packed.items)
                dropped.extend(checked.dropped)
                condensed.extend(_notes(checked, len(condensed), texts))
            if len(condensed) >= len(notes):
                break
            notes = condensed
        raise BackendError(
            f"the notes of model {self.model!r} at {self.endpoint} do not shrink to fit "
            f"{self.settings.max_context_tokens} tokens",
            fix="raise --max-context-tokens / QA_MAX_CONTEXT_TOKENS or summarize fewer documents",
        )

    # ---- helpers ---------------------------------------------------------------

    def _pack(
        self,
        prompt: Prompt,
        values: Mapping[str, str | int],
        slot: str,
        units: Sequence[Unit],
        *,
        warn_omitted: bool = True,
    ) -> Evidence:
        return pack(
            prompt,
            values,
            slot,
            units,
            budget=self.settings.max_context_tokens,
            tokens=self.tokens,
            warn_omitted=warn_omitted,
        )

    def _draft(self, checked: CheckResult, dropped: list[str]) -> Draft:
        claims = [
            DraftClaim(
                text=claim.text,
                refs=list(claim.refs),
                unsupported=claim.unsupported,
                problems=list(claim.problems),
            )
            for claim in checked.claims
        ]
        return Draft(claims=claims, abstained=False, usage=self._usage, dropped_citations=dropped)


def _notes(checked: CheckResult, start: int, texts: Mapping[SentenceRef, str]) -> list[Unit]:
    """The supported claims of a map or reduce step as notes, numbered on from ``start``.

    Each note cites the original sentences behind its claim, with their ``texts``.
    """
    notes: list[Unit] = []
    for claim in checked.claims:
        if claim.unsupported:
            log.info("note left out of the summary: %s (%s)", claim.text, claim.problems)
            continue
        cited = tuple(texts.get(ref, "") for ref in claim.refs)
        item = EvidenceItem(refs=tuple(claim.refs), texts=cited)
        notes.append(Unit(text=claim.text, item=item, order=(0, start + len(notes))))
    return notes


def create(settings: Settings, store: Store) -> OpenAIBackend:
    """The registry's factory: the LLM backend needs only the settings."""
    return OpenAIBackend(settings)
