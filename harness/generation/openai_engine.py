"""The ``openai`` engine: any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama).

Base models go through the completions API with the rendered prompt; the ``chat`` template goes
through chat completions, so the server applies the model's own chat template. Requests run
concurrently (``--concurrency``); the client retries 429, 5xx, time-outs and dropped connections
with exponential backoff (``--max-retries``) and gives each request ``--request-timeout`` seconds.
What still fails (server unreachable, key rejected, model not served) is one line and exit 3;
the samples written so far stay, and a rerun resumes.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.core.errors import InfraError
from harness.generation.config import GenerationConfig
from harness.generation.engine import Completion, Engine, Request
from harness.generation.templates import ChatTemplate, Template

#: Stop sequences the OpenAI API accepts per request (vLLM's server enforces it too).
MAX_STOPS = 4


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class OpenAIEngine(Engine):
    """Completions / chat completions against ``config.base_url`` for model ``config.model``."""

    name = "openai"

    def __init__(self, config: GenerationConfig, *, quiet: bool = False) -> None:
        super().__init__(config, quiet=quiet)
        self.client: Any = None
        self.max_model_len: int | None = None
        self.model_root: str | None = None  # what the server loaded the model from (vLLM says)
        self._tokenize_ok = True
        self._prompt_tokens: dict[str, int | None] = {}

    @classmethod
    def check(cls, config: GenerationConfig) -> str:
        """Nothing to check locally: the model is whatever the server serves under that name."""
        return f"openai:{config.base_url}#{config.model}"

    @classmethod
    def forced_scoring(cls, config: GenerationConfig) -> str:
        return "prompt_logprobs"

    @classmethod
    def version(cls) -> str:
        import openai

        return f"openai-client {openai.__version__}"

    @property
    def started(self) -> bool:
        return self.client is not None

    @property
    def place(self) -> str:
        return f"{self.config.base_url} ({self.config.model})"

    @property
    def chunk_size(self) -> int:
        return self.config.concurrency * 4

    def start(self) -> None:
        """Connect and check that the server serves the model (exit 3 when not)."""
        if self.client is not None:
            return
        import openai

        cfg = self.config
        key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        client = openai.OpenAI(base_url=cfg.base_url, api_key=key or "EMPTY",
                               timeout=cfg.request_timeout, max_retries=cfg.max_retries)
        try:
            served = list(client.models.list())
        except openai.APIError as exc:
            raise self._error(exc) from None
        names = [m.id for m in served]
        if cfg.model not in names:
            raise InfraError(f"server {cfg.base_url} does not serve model {cfg.model!r}; "
                             f"it serves: {', '.join(names) or 'nothing'}")
        entry = served[names.index(cfg.model)]
        limit = (getattr(entry, "model_extra", None) or {}).get("max_model_len")
        self.max_model_len = int(limit) if isinstance(limit, int) else None
        root = (getattr(entry, "model_extra", None) or {}).get("root")
        self.model_root = str(root) if isinstance(root, str) and root else None
        self.client = client

    def _error(self, exc: BaseException) -> InfraError:
        import openai

        url = self.config.base_url
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            var = self.config.api_key_env
            return InfraError(f"server {url} rejected the API key"
                              f"{f' in ${var}' if var else ' (none given: --api-key-env VAR)'}")
        if isinstance(exc, openai.NotFoundError):
            return InfraError(f"server {url}: not found ({_first_line(exc)}); "
                              f"is model {self.config.model!r} served and is the URL the /v1 base?")
        if isinstance(exc, openai.APITimeoutError):
            return InfraError(f"server {url} did not answer in {self.config.request_timeout:g} s "
                              f"({self.config.max_retries} retries)")
        if isinstance(exc, openai.APIConnectionError):
            return InfraError(f"cannot reach server {url}: {_first_line(exc.__cause__ or exc)}")
        return InfraError(f"server {url}: {_first_line(exc)}")

    def render(self, template: Template, prompt: str, dataset_name: str, entry: str) -> dict[str, Any]:
        rule = template.stop_rule(dataset_name, entry)
        if isinstance(template, ChatTemplate):  # the server renders its own chat template
            text = template.instruction_text(prompt)
            return {"text": text, "rule": rule, "messages": ({"role": "user", "content": text},)}
        return {"text": template.render(prompt, None), "rule": rule}

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        import openai

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = [pool.submit(self._one, r) for r in requests]
            try:
                return [f.result() for f in futures]
            except openai.APIError as exc:
                for f in futures:
                    f.cancel()
                raise self._error(exc) from None

    def _budget(self, req: Request) -> int:
        """max_tokens: --max-new-tokens, cut to what the server's context leaves after the prompt
        (as the transformers engine does) when the server says both numbers."""
        budget = self.config.max_new_tokens
        if self.max_model_len is None or req.messages is not None:
            return budget
        n_prompt = self._count(req.text)
        return budget if n_prompt is None else min(budget, self.max_model_len - n_prompt)

    def _count(self, text: str) -> int | None:
        """Prompt tokens from the server's ``/tokenize`` (vLLM, SGLang); None where it has none."""
        if not self._tokenize_ok:
            return None
        if text not in self._prompt_tokens:
            root = str(self.config.base_url).rstrip("/").removesuffix("/v1")
            body = json.dumps({"model": self.config.model, "prompt": text}).encode()
            req = urllib.request.Request(f"{root}/tokenize", body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.config.request_timeout) as resp:
                    self._prompt_tokens[text] = int(json.load(resp)["count"])
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                self._tokenize_ok = False
                return None
        return self._prompt_tokens[text]

    def _one(self, req: Request) -> Completion:
        cfg = self.config
        budget = self._budget(req)
        if budget < 1:
            return Completion("", 0, "length")
        params: dict[str, Any] = {"model": cfg.model, "max_tokens": budget, "n": 1,
                                  "temperature": cfg.temperature}
        if not cfg.greedy:
            params.update(top_p=cfg.top_p, seed=req.seed(cfg.seed))
        if req.rule.strings:  # the API takes at most 4; the cleaning cuts at the others
            params["stop"] = list(req.rule.strings[:MAX_STOPS])
        if req.messages is not None:
            resp = self.client.chat.completions.create(messages=list(req.messages), **params)
            choice = resp.choices[0]
            text = choice.message.content or ""
        else:
            resp = self.client.completions.create(prompt=req.text, **params)
            choice = resp.choices[0]
            text = choice.text or ""
        usage = resp.usage
        return Completion(text, usage.completion_tokens if usage else None, _finish(choice),
                          usage.prompt_tokens if usage else None)

    def forced_source(self) -> str | None:
        """The served model's ``root`` (vLLM: the directory or hub id it loaded), for its tokenizer."""
        return self.model_root

    def prompt_logprobs(self, sequences: Sequence[Sequence[int]], k: int) -> list[list[dict[int, float] | None]] | str:
        """The legacy completions API with ``echo`` and ``logprobs=k`` and no new tokens, the
        prompt given as token ids; vLLM's ``return_tokens_as_token_ids`` keys the top logprobs
        by token id (decoded strings can collide). A server that refuses any of it gives the
        reason, not an error; one that cannot be reached is exit 3 as in generation."""
        import openai

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = [pool.submit(self._echo, list(ids), k) for ids in sequences]
            try:
                out = [f.result() for f in futures]
            except _Refused as exc:
                for f in futures:
                    f.cancel()
                return f"server {self.config.base_url} gives no prompt logprobs: {exc}"
            except openai.APIError as exc:
                for f in futures:
                    f.cancel()
                raise self._error(exc) from None
        return out

    def _echo(self, ids: list[int], k: int) -> list[dict[int, float] | None]:
        import openai

        params: dict[str, Any] = {"model": self.config.model, "prompt": ids, "echo": True, "logprobs": k,
                                  "temperature": 0.0, "extra_body": {"return_tokens_as_token_ids": True}}
        try:
            try:
                resp = self.client.completions.create(max_tokens=0, **params)
            except (openai.BadRequestError, openai.UnprocessableEntityError):
                resp = self.client.completions.create(max_tokens=1, **params)  # servers wanting >= 1
        except (openai.BadRequestError, openai.UnprocessableEntityError, openai.NotFoundError) as exc:
            raise _Refused(f"echo with logprobs={k} rejected ({_first_line(exc)})") from None
        lp = resp.choices[0].logprobs if resp.choices else None
        if lp is None or not lp.tokens or lp.top_logprobs is None or len(lp.tokens) < len(ids):
            raise _Refused(f"no logprobs of the echoed prompt (echo=true, logprobs={k})")
        out: list[dict[int, float] | None] = []
        for i, want in enumerate(ids):
            if _token_id(lp.tokens[i]) != want:
                raise _Refused("the echoed tokens are not token ids (vLLM's return_tokens_as_token_ids) "
                               "or not the ones sent")
            top = lp.top_logprobs[i] if i < len(lp.top_logprobs) else None
            own = lp.token_logprobs[i] if lp.token_logprobs and i < len(lp.token_logprobs) else None
            if i == 0 or top is None or own is None:
                if i > 0:
                    raise _Refused(f"no logprobs at prompt position {i}")
                out.append(None)
                continue
            entries = {_token_id(t): float(v) for t, v in top.items()}
            if None in entries:
                raise _Refused("the top logprobs are keyed by text, not token ids")
            here: dict[int, float] = {int(t): v for t, v in entries.items() if t is not None}
            here.setdefault(want, float(own))
            out.append(here)
        return out

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class _Refused(Exception):
    """The server answered, but not with prompt logprobs."""


def _token_id(token: str) -> int | None:
    """``token_id:123`` (vLLM's ``return_tokens_as_token_ids``) -> 123, else None."""
    prefix, _, rest = token.partition("token_id:")
    return int(rest) if not prefix and rest.isdigit() else None


def _finish(choice: Any) -> str | None:
    """``stop``, ``eos`` or ``length``: vLLM's ``stop_reason`` (None at EOS, else the stop
    string or token) tells EOS from a stop sequence; other servers say ``stop`` for both."""
    reason = choice.finish_reason
    if reason == "stop":
        extra = getattr(choice, "model_extra", None) or {}
        if "stop_reason" in extra and extra["stop_reason"] is None:
            return "eos"
        return "stop"
    return str(reason) if reason is not None else None


__all__ = ["OpenAIEngine"]
