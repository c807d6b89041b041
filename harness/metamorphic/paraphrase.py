"""Soft relations: docstring paraphrases (ReCode's docstring perturbations: synonyms, typos,
character case). The program's behaviour is untouched, but the task's wording changes, so a
difference in the student's behaviour is a robustness finding, not a fidelity violation:
reported apart from the strict group.

Only prose words change: doctest lines and their outputs, identifiers of the program, words
glued to code punctuation (``f(x)``, ``"abc"``, ``\\n``) and builtins keep their spelling.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Callable

from harness.metamorphic._cst import Ctx, code_lines, edit_docstring, prompt_docstrings
from harness.metamorphic.base import NotApplicable, Source, register
from harness.metamorphic.formatting import CstRelation

_WORD = re.compile(r"^([A-Za-z]+)([.,;:!?]*)$")

SYNONYMS: dict[str, str] = {
    "write": "create",
    "create": "make",
    "make": "create",
    "find": "determine",
    "determine": "find",
    "check": "verify",
    "verify": "check",
    "given": "provided",
    "provided": "given",
    "returns": "outputs",
    "return": "output",
    "calculate": "compute",
    "compute": "calculate",
    "largest": "biggest",
    "biggest": "largest",
    "smallest": "lowest",
    "maximum": "greatest",
    "minimum": "least",
    "first": "initial",
    "last": "final",
    "remove": "delete",
    "delete": "remove",
    "whether": "if",
    "each": "every",
    "every": "each",
    "convert": "transform",
    "element": "item",
    "elements": "items",
    "item": "element",
    "items": "elements",
    "example": "instance",
    "examples": "instances",
    "get": "obtain",
    "obtain": "get",
    "appears": "occurs",
    "occurs": "appears",
    "begins": "starts",
    "starts": "begins",
    "contains": "includes",
    "includes": "contains",
    "length": "size",
    "consecutive": "successive",
    "unique": "distinct",
    "distinct": "unique",
    "also": "additionally",
    "only": "solely",
    "exactly": "precisely",
    "task": "job",
    "result": "outcome",
    "function": "routine",
    "should": "must",
    "want": "need",
    "need": "want",
    "count": "tally",
    "equal": "identical",
    "different": "distinct",
    "produce": "generate",
    "generate": "produce",
    "note": "observe",
    "assume": "suppose",
    "suppose": "assume",
    "split": "divide",
    "above": "preceding",
    "sorted": "ordered",
    "sort": "order",
}


def _match_case(src: str, new: str) -> str:
    if src.isupper() and len(src) > 1:
        return new.upper()
    if src[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


class _WordEdit(CstRelation):
    """Edit a seeded subset of the prose words of the prompt's main docstring."""

    group = "soft"
    share = 0.3

    @abstractmethod
    def eligible(self, word: str) -> bool:
        """Whether this word can be changed."""

    @abstractmethod
    def change(self, word: str, ctx: Ctx) -> str:
        """The new spelling of one word (letters only, never empty)."""

    def rewrite(self, ctx: Ctx) -> Source | None:
        docs = prompt_docstrings(ctx)
        if not docs:
            raise NotApplicable("no docstring")
        names = ctx.names_in_use

        def edit(text: str) -> str:
            lines = text.split("\n")
            spots: list[tuple[int, int, int, str]] = []  # line, start, end, word
            for i, is_code in enumerate(code_lines(text)):
                if is_code:
                    continue
                for m in re.finditer(r"\S+", lines[i]):
                    w = _WORD.match(m.group(0))
                    if w is None or w.group(1) in names or not self.eligible(w.group(1)):
                        continue
                    spots.append((i, m.start(), m.start() + len(w.group(1)), w.group(1)))
            if not spots:
                raise NotApplicable("no eligible word")
            chosen = [s for s in spots if ctx.rng.random() < self.share] or [ctx.rng.choice(spots)]
            for i, start, end, word in sorted(chosen, key=lambda s: (s[0], -s[1])):
                lines[i] = lines[i][:start] + self.change(word, ctx) + lines[i][end:]
            return "\n".join(lines)

        if not edit_docstring(ctx, docs[0], edit):
            raise NotApplicable("docstring unchanged")
        return ctx.result()


@register
class DocstringSynonyms(_WordEdit):
    """Words of the docstring replaced by synonyms from a small built-in thesaurus (seeded
    subset of the occurrences). Applies where the docstring uses one of its words."""

    name = "docstring_synonyms"
    share = 0.5

    def eligible(self, word: str) -> bool:
        return word.lower() in SYNONYMS

    def change(self, word: str, ctx: Ctx) -> str:
        return _match_case(word, SYNONYMS[word.lower()])


_KEYBOARD = {
    r: n
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for r, n in zip(row, row[1:] + row[-2], strict=True)
}


def _typo(word: str, rng_choice: Callable[[list[int]], int], op: int) -> str:
    inner = list(range(1, len(word) - 1))
    i = rng_choice(inner)
    if op == 0 and word[i] != word[i + 1]:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 1:  # drop a letter
        return word[:i] + word[i + 1 :]
    if op == 2:  # double a letter
        return word[: i + 1] + word[i] + word[i + 1 :]
    lower = word[i].lower()  # butter fingers: a neighbouring key
    near = _KEYBOARD.get(lower, lower)
    near = near.upper() if word[i].isupper() else near
    return word[:i] + near + word[i + 1 :]


@register
class DocstringTypos(_WordEdit):
    """Typos in a seeded fifth of the docstring's prose words of four letters or more:
    swapped neighbours, a dropped or doubled letter, or a neighbouring key."""

    name = "docstring_typos"
    share = 0.2

    def eligible(self, word: str) -> bool:
        return len(word) >= 4

    def change(self, word: str, ctx: Ctx) -> str:
        for _ in range(8):
            new = _typo(word, ctx.rng.choice, ctx.rng.randrange(4))
            if new != word:
                return new
        return word[:1] + word[2:]


@register
class DocstringCase(_WordEdit):
    """Character case changes in a seeded third of the docstring's prose words: upper-cased,
    or letters flipped at random (ReCode's character-case perturbation)."""

    name = "docstring_case"
    share = 0.3

    def eligible(self, word: str) -> bool:
        return len(word) >= 2

    def change(self, word: str, ctx: Ctx) -> str:
        if ctx.rng.random() < 0.5 and not word.isupper():
            return word.upper()
        for _ in range(8):
            new = "".join(c.swapcase() if ctx.rng.random() < 0.35 else c for c in word)
            if new != word:
                return new
        return word.swapcase()
