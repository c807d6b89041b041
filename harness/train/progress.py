"""Training progress for logs: a line every tenth of the steps and at least every ``interval``
seconds (step, loss, elapsed, ETA), so a long CPU run in CI or behind a pipe is never silent.
On a terminal the trainer's own bar shows the same (see trainer._QuietProgress)."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from harness.reporting.progress import LineProgress


class ProgressLines(TrainerCallback):
    """``train <method> step 120/600 (20%), 45 s elapsed, ETA 3 min 00 s, loss 1.234`` lines."""

    def __init__(self, description: str, interval: float = 30.0) -> None:
        self.description = description
        self.interval = interval
        self.lines: LineProgress | None = None
        self.loss: float | None = None
        self._pending = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.lines = LineProgress(int(state.max_steps), f"{self.description} step", interval=self.interval)
            self.lines.done = int(state.global_step)  # a resumed run starts where it stopped
            self.lines._last_decile = 10 * self.lines.done // max(1, self.lines.total)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and isinstance(logs.get("loss"), (int, float)):
            self.loss = float(logs["loss"])
        if self._pending:  # the step's own loss is in: report the step now
            self._advance(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # The trainer logs after on_step_end: on a logging step wait for its loss.
        steps = max(1, int(getattr(args, "logging_steps", 1) or 1))
        if int(state.global_step) % steps == 0:
            self._pending = True
        else:
            self._advance(state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._pending:
            self._advance(state)

    def _advance(self, state: Any) -> None:
        self._pending = False
        if self.lines is not None:
            self.lines.advance(int(state.global_step) - self.lines.done,
                               extra=f"loss {self.loss:.4g}" if self.loss is not None else "")
