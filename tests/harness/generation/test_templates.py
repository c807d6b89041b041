"""Templates render as documented; cleaning turns raw outputs into complete programs."""

from __future__ import annotations

from typing import Any

import pytest

from harness.core.errors import UsageError
from harness.generation.templates import ALPACA_HEADER, TEMPLATES, get_template

HE_PROMPT = (
    "from typing import List\n\n\n"
    "def below_zero(operations: List[int]) -> bool:\n"
    '    """ Return True if the balance ever falls below zero. """\n'
)


def test_registry_names() -> None:
    assert set(TEMPLATES) == {"plain", "starcoder", "instruct-eval", "alpaca", "chat"}
    assert all(name == t.name for name, t in TEMPLATES.items())
    assert all(TEMPLATES.help(name) == t.description for name, t in TEMPLATES.items())


def test_unknown_template_is_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown template 'nope'.*plain"):
        get_template("nope")


def test_plain_is_the_prompt() -> None:
    assert get_template("plain").render(HE_PROMPT) == HE_PROMPT


def test_starcoder_fim() -> None:
    assert (
        get_template("starcoder").render(HE_PROMPT)
        == f"<fim_prefix>{HE_PROMPT}<fim_suffix><fim_middle>"
    )


def test_instruct_eval_prefix() -> None:
    assert get_template("instruct-eval").render(HE_PROMPT) == (
        "Please complete the following Python code without providing any additional tasks such "
        "as testing or explanations\n" + HE_PROMPT
    )


def test_alpaca() -> None:
    text = get_template("alpaca").render(HE_PROMPT)
    assert text == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nCreate a Python script for this problem:\n"
        + HE_PROMPT.strip()
        + "\n\n### Response:"
    )
    assert text.startswith(ALPACA_HEADER)


class _FakeChatTokenizer:
    chat_template = "fake"

    def apply_chat_template(
        self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool
    ) -> Any:
        assert tokenize is False and add_generation_prompt is True
        return (
            "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"
        )


def test_chat_uses_the_tokenizer_template() -> None:
    text = get_template("chat").render(HE_PROMPT, _FakeChatTokenizer())
    assert text.startswith("<user>Please provide a self-contained Python script")
    assert f"```python\n{HE_PROMPT.strip()}\n```</user><assistant>" in text
    assert get_template("chat").add_special_tokens is False


def test_chat_without_template_is_usage_error() -> None:
    class NoTemplate:
        chat_template = None

    with pytest.raises(UsageError, match="chat template"):
        get_template("chat").render(HE_PROMPT, NoTemplate())


def test_completion_templates_cut_at_stop_sequences() -> None:
    body = "    return any(x < 0 for x in operations)\n"
    for name in ("plain", "starcoder", "instruct-eval"):
        t = get_template(name)
        rule = t.stop_rule("humaneval")
        p = t.postprocess(body + "\n\ndef other():\n    pass\n", HE_PROMPT, "below_zero", rule)
        assert p.completion == body + "\n"
        assert p.solution == HE_PROMPT + body + "\n"
        assert p.stopped
        q = t.postprocess(body, HE_PROMPT, "below_zero", rule)
        assert (q.completion, q.stopped) == (body, False)


def test_mbpp_completion_keeps_helper_functions() -> None:
    t = get_template("plain")
    raw = "def helper(x):\n    return x\n\ndef f(x):\n    return helper(x)\n\nassert f(1) == 1\n"
    p = t.postprocess(raw, '"""\nWrite f.\nassert f(1) == 1\n"""\n', "f", t.stop_rule("mbpp+"))
    assert p.completion == "def helper(x):\n    return x\n\ndef f(x):\n    return helper(x)\n"


def test_alpaca_answer_becomes_a_program() -> None:
    t = get_template("alpaca")
    raw = (
        "Here is the function:\n```python\ndef below_zero(operations: List[int]) -> bool:\n"
        "    balance = 0\n    for op in operations:\n        balance += op\n"
        "        if balance < 0:\n            return True\n    return False\n\n"
        "print(below_zero([1, -2]))\n```\nIt walks the list.\n### Instruction:\nmore"
    )
    p = t.postprocess(raw, HE_PROMPT, "below_zero", t.stop_rule("humaneval", "below_zero"))
    assert p.stopped
    assert p.completion.startswith("def below_zero(")
    assert "print(" not in p.completion
    assert p.solution.startswith("from typing import List\n")
    namespace: dict[str, Any] = {}
    exec(p.solution, namespace)
    assert namespace["below_zero"]([1, -2]) is True


def test_instruction_answer_that_is_a_body_continues_the_prompt() -> None:
    t = get_template("alpaca")
    raw = "    return any(x < 0 for x in operations)\n"
    p = t.postprocess(raw, HE_PROMPT, "below_zero", t.stop_rule("humaneval", "below_zero"))
    assert p.solution == HE_PROMPT + raw
