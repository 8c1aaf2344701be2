"""Step 6: talk to the optimized model with onnxruntime-genai, with the LoRA adapter on or off.

Uses the generator API of onnxruntime-genai >= 0.6 (`append_tokens`); the lab's app.py used the 0.5 API
(`params.input_ids`, `compute_logits`), which no longer exists.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .lab import Lab, StepPlan

ADAPTER_FILE = "adapter_weights.onnx_adapter"
ADAPTER_NAME = "travel"
DEFAULT_MAX_NEW_TOKENS = 200
EXPLAIN = (
    "Chat with the model you just built, running in onnxruntime-genai exactly as it would on a laptop. "
    "Switch the adapter off to hear the base model, on to hear what fine-tuning taught it."
)


def plan(lab: Lab) -> StepPlan:
    from .optimize import model_folder

    folder = model_folder(lab)
    return StepPlan(step="chat", title="Chat with the model", explain=EXPLAIN, inputs=(folder,),
                    blocked="" if (folder / "genai_config.json").is_file()
                    else "The optimized model is not there yet: run the optimize step first.")


def verify(lab: Lab) -> list[str]:
    step_plan = plan(lab)
    return [step_plan.blocked] if step_plan.blocked else []


@dataclass(frozen=True)
class ChatStats:
    ttft_s: float | None
    tokens: int
    tokens_per_s: float | None
    stopped: bool
    seconds: float


class ChatSession:
    """One loaded model (+ adapter). Loading takes seconds at full size: do it off the UI thread."""

    def __init__(self, model, tokenizer, adapters, folder: Path):
        self._model, self._tokenizer, self._adapters, self.folder = model, tokenizer, adapters, folder
        self.last_stats: ChatStats | None = None

    @classmethod
    def open(cls, model_dir: Path, adapter_path: Path | None = None) -> ChatSession:
        import onnxruntime_genai as og

        model_dir = Path(model_dir)
        model = og.Model(str(model_dir))
        adapter_path = adapter_path or (model_dir / ADAPTER_FILE)
        adapters = None
        if Path(adapter_path).is_file():
            adapters = og.Adapters(model)
            adapters.load(str(adapter_path), ADAPTER_NAME)
        return cls(model, og.Tokenizer(model), adapters, model_dir)

    @classmethod
    def for_lab(cls, lab: Lab) -> ChatSession:
        from .optimize import model_folder

        return cls.open(model_folder(lab))

    @property
    def has_adapter(self) -> bool:
        return self._adapters is not None

    def prompt_ids(self, messages: list[dict]):
        """The conversation in the model's chat format, as token ids."""
        text = self._tokenizer.apply_chat_template(json.dumps(messages), add_generation_prompt=True)
        return self._tokenizer.encode(text)

    def generate(self, messages: list[dict], use_adapter: bool = True,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, stop: threading.Event | None = None,
                 ) -> Iterator[str]:
        """Stream the reply's text. `max_length` counts the prompt too, so it is prompt + new tokens."""
        import onnxruntime_genai as og

        if use_adapter and not self.has_adapter:
            raise ValueError(f"No adapter: {self.folder / ADAPTER_FILE} is missing.")
        ids = self.prompt_ids(messages)
        params = og.GeneratorParams(self._model)
        params.set_search_options(max_length=len(ids) + max_new_tokens)
        generator = og.Generator(self._model, params)
        if use_adapter:
            generator.set_active_adapter(self._adapters, ADAPTER_NAME)
        stream = self._tokenizer.create_stream()
        started = time.perf_counter()
        first = None
        tokens = 0
        stopped = False
        try:
            generator.append_tokens(ids)
            while not generator.is_done():
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                generator.generate_next_token()
                tokens += 1
                if first is None:
                    first = time.perf_counter()
                piece = stream.decode(generator.get_next_tokens()[0])
                if piece:
                    yield piece
        finally:
            end = time.perf_counter()
            decode_s = end - first if first is not None else 0.0
            self.last_stats = ChatStats(
                ttft_s=(first - started) if first is not None else None, tokens=tokens,
                tokens_per_s=(tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else None,
                stopped=stopped, seconds=end - started)
            del generator

    def reply(self, prompt: str, use_adapter: bool = True, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> str:
        """A whole reply to one user message (for the headless CLI and tests)."""
        return "".join(self.generate([{"role": "user", "content": prompt}], use_adapter, max_new_tokens))
