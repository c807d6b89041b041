"""Prompt templates: a registry of name -> template object.

Two kinds. *Completion* templates (``plain``, ``starcoder``, ``instruct-eval``) wrap the task
prompt so the model continues the code; the cleaned completion is appended to the task prompt.
*Instruction* templates (``alpaca``, ``chat``) ask for an answer; its code is extracted and made
into a complete program. ``starcoder``, ``instruct-eval`` and ``alpaca`` are the three templates of
the AKD paper (the first two as in declare-lab/instruct-eval's HumanEval code, the third the
Stanford Alpaca format that CodeAlpaca training data uses, verbatim: the response follows
``### Response:`` directly). The same objects render ``harness train``'s prompts
(:meth:`Template.render_training`), so a model is evaluated in the format it was trained in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.core.errors import UsageError
from harness.core.registry import TEMPLATES
from harness.generation.stops import (
    ALPACA_STOPS,
    StopRule,
    build_program,
    completion_stops,
    extract_code,
)


@dataclass(frozen=True)
class Processed:
    """A cleaned output: ``completion`` (what follows the prompt, or the extracted code) and
    ``solution`` (the full program)."""

    completion: str
    solution: str
    stopped: bool


@dataclass(frozen=True)
class Template:
    """Base: how a task prompt is rendered, where output stops, how it is cleaned."""

    name: str
    description: str
    kind: str = "completion"  # completion | instruction
    #: Whether the tokenizer may add its own special tokens (BOS); chat templates add them.
    add_special_tokens: bool = True
    #: Whether ``harness train`` offers it (``render_training``).
    for_training: bool = True

    def render(self, prompt: str, tokenizer: Any = None) -> str:
        return prompt

    def render_training(self, instruction: str, input: str = "") -> str:
        """The prompt of a training record: the instruction (and its input) as the task."""
        return self.render(f"{instruction}\n{input}" if input else instruction)

    def stop_rule(self, dataset_name: str, entry_point: str | None = None) -> StopRule:
        return StopRule(strings=completion_stops(dataset_name))

    def postprocess(
        self, raw: str, prompt: str, entry_point: str | None, rule: StopRule
    ) -> Processed:
        cut = rule.find(raw)
        completion = raw if cut is None else raw[:cut]
        return Processed(completion, prompt + completion, cut is not None)


@dataclass(frozen=True)
class WrapTemplate(Template):
    """Completion with text around the prompt: ``prefix + prompt + suffix``."""

    prefix: str = ""
    suffix: str = ""

    def render(self, prompt: str, tokenizer: Any = None) -> str:
        return f"{self.prefix}{prompt}{self.suffix}"


@dataclass(frozen=True)
class InstructionTemplate(Template):
    """An instruction answered by a code block (or raw code); the program is rebuilt from it."""

    kind: str = "instruction"
    header: str = ""
    instruction: str = ""
    footer: str = ""
    stops: tuple[str, ...] = ()
    #: Training records with an ``input``: their header, and the input's block after the
    #: instruction (``{input}`` is replaced); a record's own instruction is used verbatim.
    input_header: str = ""
    input_block: str = "\n{input}"

    def instruction_text(self, prompt: str) -> str:
        return self.instruction.format(prompt=prompt.strip())

    def render(self, prompt: str, tokenizer: Any = None) -> str:
        return f"{self.header}{self.instruction_text(prompt)}{self.footer}"

    def render_training(self, instruction: str, input: str = "") -> str:
        if not input:
            return f"{self.header}{instruction}{self.footer}"
        block = self.input_block.format(input=input)
        return f"{self.input_header or self.header}{instruction}{block}{self.footer}"

    def stop_rule(self, dataset_name: str, entry_point: str | None = None) -> StopRule:
        needle = f"def {entry_point}(" if entry_point else None
        return StopRule(strings=self.stops, close_fence=True, fence_needle=needle)

    def postprocess(
        self, raw: str, prompt: str, entry_point: str | None, rule: StopRule
    ) -> Processed:
        cut = rule.find(raw)
        text = raw if cut is None else raw[:cut]
        code = extract_code(text, entry_point)
        return Processed(code, build_program(code, prompt, entry_point), cut is not None)


@dataclass(frozen=True)
class ChatTemplate(InstructionTemplate):
    """The tokenizer's own chat template (``apply_chat_template``), one user turn."""

    add_special_tokens: bool = False
    for_training: bool = False

    def render(self, prompt: str, tokenizer: Any = None) -> str:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise UsageError(
                "template 'chat' needs a tokenizer with a chat template; use --template plain or alpaca"
            )
        messages = [{"role": "user", "content": self.instruction_text(prompt)}]
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )


ALPACA_HEADER = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n### Instruction:\n"
)
ALPACA_INPUT_HEADER = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
)

for _template in (
    Template("plain", "the task prompt itself; a base model continues it"),
    WrapTemplate(
        "starcoder",
        "StarCoder fill-in-the-middle: <fim_prefix>PROMPT<fim_suffix><fim_middle>",
        prefix="<fim_prefix>",
        suffix="<fim_suffix><fim_middle>",
    ),
    WrapTemplate(
        "instruct-eval",
        "instruct-eval's HumanEval prefix: 'Please complete the following Python code ...'",
        prefix=(
            "Please complete the following Python code without providing any additional "
            "tasks such as testing or explanations\n"
        ),
    ),
    InstructionTemplate(
        "alpaca",
        "Stanford Alpaca: ### Instruction / ### Response; the answer's code is extracted",
        header=ALPACA_HEADER,
        instruction="Create a Python script for this problem:\n{prompt}",
        footer="\n\n### Response:",
        stops=ALPACA_STOPS,
        input_header=ALPACA_INPUT_HEADER,
        input_block="\n\n### Input:\n{input}",
    ),
    ChatTemplate(
        "chat",
        "the tokenizer's chat template (apply_chat_template); the answer's code is extracted",
        instruction=(
            "Please provide a self-contained Python script that solves the following problem "
            "in a markdown code block:\n```python\n{prompt}\n```"
        ),
    ),
):
    TEMPLATES.register(_template.name, _template, help=_template.description)


def get_template(name: str) -> Template:
    """The template registered under ``name``; a UsageError names the valid ones."""
    return TEMPLATES.get(name)


def training_templates() -> list[str]:
    """The templates ``harness train`` offers (all but those that need a chat tokenizer)."""
    return [name for name, t in TEMPLATES.items() if t.for_training]


def get_training_template(name: str) -> Template:
    """The template ``name`` for training records; a UsageError when unknown or chat-only."""
    template = TEMPLATES.get(name)
    if not template.for_training:
        raise UsageError(
            f"template {name!r} cannot render training records; "
            f"available: {', '.join(training_templates())}"
        )
    return template
