"""Prompt templates: text files in ``prompts/``, loaded by name and filled strictly.

A template file holds a system part and a user part separated by a line that is
exactly ``---``; a file without that line is a snippet (one part, used as the
value of another template's variable). Placeholders are ``$name`` or
``${name}``; ``$$`` is a literal dollar sign. Filling a template with a
variable missing, or with one it does not use, raises :class:`PromptError`,
so a renamed placeholder cannot silently send a prompt with a hole in it.

The files ship inside the wheel as ``qa/backends/llm/prompts/`` and live at the top of a
source checkout as ``prompts/``; the wheel copy wins when both exist.
Not handled: includes, conditionals, or per-model variants of a prompt.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.errors import PromptError

SEPARATOR = "---"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def prompt_dirs() -> list[Path]:
    """Where templates are looked up, in order: inside the package, then the source checkout."""
    # The wheel ships the templates beside this module (qa/backends/llm/prompts/); in a
    # checkout or an editable install they are the top-level prompts/ folder, three levels
    # above this file's folder.
    here = Path(__file__).resolve().parent
    return [here / "prompts", here.parents[2] / "prompts"]


def _template(text: str, path: Path) -> string.Template:
    template = string.Template(text)
    if not template.is_valid():
        raise PromptError(
            f"prompt file {path} has a malformed placeholder",
            fix="write placeholders as $name or ${name}, and a literal dollar sign as $$",
        )
    return template


@dataclass(frozen=True)
class Prompt:
    """A loaded template; ``system`` is None for a snippet (a file without ``---``)."""

    name: str
    path: Path
    user: string.Template
    system: string.Template | None = None

    @property
    def variables(self) -> frozenset[str]:
        names = set(self.user.get_identifiers())
        if self.system is not None:
            names.update(self.system.get_identifiers())
        return frozenset(names)

    def _check(self, values: dict[str, str | int]) -> dict[str, str]:
        given = set(values)
        missing = sorted(self.variables - given)
        unknown = sorted(given - self.variables)
        if missing:
            raise PromptError(
                f"prompt {self.name!r} was filled without {', '.join(missing)}",
                fix=f"pass every variable of {self.path.name}: {', '.join(sorted(self.variables))}",
            )
        if unknown:
            raise PromptError(
                f"prompt {self.name!r} has no variable {', '.join(unknown)}",
                fix=f"use the variables of {self.path.name}: {', '.join(sorted(self.variables))}",
            )
        return {name: str(value) for name, value in values.items()}

    def text(self, **values: str | int) -> str:
        """Fill a snippet (a template without a system part)."""
        if self.system is not None:
            raise PromptError(
                f"prompt {self.name!r} has a system part",
                fix="use messages() for templates with a '---' separator",
            )
        return self.user.substitute(self._check(values))

    def messages(self, **values: str | int) -> list[dict[str, str]]:
        """Fill the template as chat messages: system (if any), then user."""
        filled = self._check(values)
        messages: list[dict[str, str]] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system.substitute(filled)})
        messages.append({"role": "user", "content": self.user.substitute(filled)})
        return messages


def parse_prompt(name: str, path: Path, text: str) -> Prompt:
    lines = text.strip("\n").split("\n")
    separators = [number for number, line in enumerate(lines) if line.strip() == SEPARATOR]
    if len(separators) > 1:
        raise PromptError(
            f"prompt file {path} has {len(separators)} '{SEPARATOR}' lines",
            fix="keep exactly one separator between the system and the user part",
        )
    if not separators:
        return Prompt(name=name, path=path, user=_template("\n".join(lines).strip(), path))
    cut = separators[0]
    system = "\n".join(lines[:cut]).strip()
    user = "\n".join(lines[cut + 1 :]).strip()
    if not system or not user:
        raise PromptError(
            f"prompt file {path} has an empty system or user part",
            fix=f"write text on both sides of the '{SEPARATOR}' line",
        )
    return Prompt(name=name, path=path, user=_template(user, path), system=_template(system, path))


@lru_cache(maxsize=32)
def load_prompt(name: str) -> Prompt:
    """The template ``prompts/<name>.txt``."""
    if not _NAME.fullmatch(name):
        raise PromptError(
            f"invalid prompt name {name!r}", fix="use lowercase letters, digits and '_'"
        )
    for folder in prompt_dirs():
        path = folder / f"{name}.txt"
        if path.is_file():
            return parse_prompt(name, path, path.read_text(encoding="utf-8"))
    searched = " or ".join(str(folder) for folder in prompt_dirs())
    raise PromptError(
        f"prompt {name!r} not found in {searched}",
        fix="reinstall qa (the wheel ships qa/backends/llm/prompts/) "
        "or restore prompts/ in the checkout",
    )
