"""Stop sequences and output cleaning.

Stop rules serve twice: during generation they mark finished rows so a batch exits early, and
afterwards they cut the decoded text. Both uses go through :meth:`StopRule.find`, so what stops a
row and where its text is cut can never disagree. Code extraction for instruction templates uses
only the standard library (``ast``), so cleaning never depends on the model's tokenizer.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

#: Base-model completion of a HumanEval function body ends where a new top-level block begins
#: (evalplus / bigcode-evaluation-harness conventions).
HUMANEVAL_STOPS: tuple[str, ...] = (
    "\ndef ",
    "\nclass ",
    "\nif __name__",
    "\nprint(",
    "\n#",
    "\nassert",
)

#: MBPP completions write the whole function (helpers allowed), so "\ndef " must not stop them;
#: test code, a closing docstring or a closing fence after the function does.
MBPP_STOPS: tuple[str, ...] = (
    "\nclass ",
    "\nif __name__",
    "\nprint(",
    "\nassert",
    '\n"""',
    "\n```",
)

#: Alpaca-style turns: a new section header means the answer is over.
ALPACA_STOPS: tuple[str, ...] = ("\n### Instruction", "\n### Input", "\n### Response")


def dataset_family(dataset_name: str) -> str:
    """``humaneval`` or ``mbpp``: the + variants share prompts and stop sequences."""
    name = dataset_name.lower()
    if name.startswith("humaneval"):
        return "humaneval"
    if name.startswith("mbpp"):
        return "mbpp"
    return name


def completion_stops(dataset_name: str) -> tuple[str, ...]:
    """Stop sequences for base-model completion of the given dataset."""
    return MBPP_STOPS if dataset_family(dataset_name) == "mbpp" else HUMANEVAL_STOPS


_FENCE_LINE = re.compile(r"^[ \t]*```", re.MULTILINE)


@dataclass(frozen=True)
class StopRule:
    """Where a generated text ends.

    ``strings``: cut before the earliest occurrence of any of them. ``close_fence``: the answer
    ends after the first closed Markdown code block (that defines ``fence_needle`` when given),
    the closing fence kept.
    """

    strings: tuple[str, ...] = ()
    close_fence: bool = False
    fence_needle: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.strings) or self.close_fence

    @property
    def window(self) -> int:
        """Tokens of tail to decode so that no newly completed stop string can be missed."""
        longest = max((len(s) for s in self.strings), default=0)
        return max(longest, 3) + 4

    def find(self, text: str) -> int | None:
        """Length of ``text`` to keep, or None when no stop occurs in it."""
        cut: int | None = None
        for s in self.strings:
            i = text.find(s)
            if i != -1 and (cut is None or i < cut):
                cut = i
        if self.close_fence:
            end = closed_fence_end(text, self.fence_needle)
            if end is not None and (cut is None or end < cut):
                cut = end
        return cut

    def maybe_in_tail(self, tail: str) -> bool:
        """Cheap pre-check on a decoded tail: can ``find`` on the full text have become non-None?"""
        if any(s in tail for s in self.strings):
            return True
        return self.close_fence and "```" in tail


def closed_fence_end(text: str, needle: str | None = None) -> int | None:
    """End offset of the first closed ``` block (containing ``needle`` when given), else None."""
    fences = [m for m in _FENCE_LINE.finditer(text)]
    i = 0
    while i + 1 < len(fences):
        opening, closing = fences[i], fences[i + 1]
        newline = text.find("\n", opening.end())
        if newline == -1 or newline > closing.start():
            i += 1
            continue
        body = text[newline + 1 : closing.start()]
        if needle is None or needle in body:
            return closing.end()
        i += 2
    return None


# ------------------------------------------------------------------------- extraction

_BLOCK = re.compile(
    r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.DOTALL | re.MULTILINE
)
_CODE_START = re.compile(r"^(def |async def |class |import |from \S+ import |@)", re.MULTILINE)
_KEEP = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _defines(code: str, name: str) -> bool:
    return (
        re.search(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None
    )


def code_blocks(text: str) -> list[str]:
    """Contents of the Markdown code blocks in ``text`` (an unclosed last block included)."""
    blocks = []
    for m in _BLOCK.finditer(text):
        lang = m.group(1).lower()
        if lang and lang not in ("python", "py", "python3"):
            continue
        blocks.append(m.group(2))
    return blocks


def drop_test_code(code: str) -> str:
    """Keep imports, definitions and assignments; drop top-level tests, prints and main guards.

    Test code in an answer can only hurt the verdict (a failing example assert, a blocking
    ``input()``); code that does not parse is returned unchanged so its error stays visible.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return code
    lines = code.splitlines(keepends=True)
    kept: list[str] = []
    for node in tree.body:
        if not isinstance(node, _KEEP):
            continue
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno, *(d.lineno for d in decorators)]) - 1
        end = node.end_lineno or node.lineno
        kept.append("".join(lines[start:end]).rstrip("\n"))
    return "\n\n".join(kept) + "\n" if kept else code


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The code of an instruction-style answer: the fenced block that defines the entry point
    (else the longest block), or the raw text from its first code-like line."""
    blocks = code_blocks(text)
    if blocks:
        chosen = next((b for b in blocks if entry_point and _defines(b, entry_point)), None)
        code = chosen if chosen is not None else max(blocks, key=len)
    else:
        code = text
        if not _parses(code):
            m = _CODE_START.search(code)
            if m is not None:
                code = code[m.start() :]
    return drop_test_code(code.strip("\n") + "\n")


# --------------------------------------------------------------------- full programs


def prompt_context(prompt: str, entry_point: str | None) -> tuple[list[str], list[tuple[str, str]]]:
    """Top-level imports and helper definitions (name, source) of a task prompt.

    HumanEval prompts import typing names and sometimes define helpers the entry point calls
    (``is_palindrome``, ``encode_cyclic``); an instruction answer often omits them.
    """
    imports: list[str] = []
    helpers: list[tuple[str, str]] = []
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        for line in prompt.splitlines():
            if re.match(r"^(import |from \S+ import )", line):
                imports.append(line.rstrip())
        return imports, helpers
    lines = prompt.splitlines(keepends=True)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append("".join(lines[node.lineno - 1 : node.end_lineno]).rstrip())
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == entry_point:
                continue
            decorators = getattr(node, "decorator_list", [])
            start = min([node.lineno, *(d.lineno for d in decorators)]) - 1
            helpers.append((node.name, "".join(lines[start : node.end_lineno]).rstrip()))
    return imports, helpers


def build_program(code: str, prompt: str, entry_point: str | None) -> str:
    """A complete program from extracted answer code, as evalplus's sanitize would leave it plus
    the prompt's imports and helpers the answer lacks.

    An indented answer that does not define the entry point is a function body: it continues
    the prompt, exactly as a base-model completion would.
    """
    if (
        entry_point
        and not _defines(code, entry_point)
        and code[:1] in (" ", "\t")
        and _defines(prompt, entry_point)
    ):
        return prompt + code
    imports, helpers = prompt_context(prompt, entry_point)
    parts: list[str] = []
    missing_imports = [imp for imp in imports if imp not in code]
    if missing_imports:
        parts.append("\n".join(missing_imports))
    for name, source in helpers:
        if not re.search(rf"^\s*(async\s+)?(def|class)\s+{re.escape(name)}\b", code, re.MULTILINE):
            parts.append(source)
    if not parts:
        return code
    return "\n\n\n".join([*parts, code])
