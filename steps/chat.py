"""Step 6: talk to the optimized model with onnxruntime-genai, with the LoRA adapter on or off.

Uses the generator API of onnxruntime-genai >= 0.6 (`append_tokens`); the lab's app.py used the 0.5 API
(`params.input_ids`, `compute_logits`), which no longer exists.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .lab import Lab, StepPlan
from .safe_text import visible

ADAPTER_FILE = "adapter_weights.onnx_adapter"
ADAPTER_NAME = "travel"
DEFAULT_MAX_NEW_TOKENS = 200
#: Greedy decoding of a small model loops ("Kyoto's Kyoto's Kyoto's…") on some prompts, more often with a freshly
#: trained adapter; a mild penalty on tokens already generated stops that (SmolLM2, adapter on and off: measured
#: on two fine-tunes of the cpu lab, 2026-12-02) without changing the answers' register.
REPETITION_PENALTY = 1.1
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
        yield from self.generate_ids(self.prompt_ids(messages), use_adapter, max_new_tokens, stop)

    def generate_ids(self, ids, use_adapter: bool = True, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                     stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the reply to prompt token ids already rendered (the evaluate step renders its own prompts)."""
        import onnxruntime_genai as og

        if use_adapter and not self.has_adapter:
            raise ValueError(f"No adapter: {self.folder / ADAPTER_FILE} is missing.")
        check_lengths(len(ids), max_new_tokens, self.folder)
        params = og.GeneratorParams(self._model)
        params.set_search_options(max_length=len(ids) + max_new_tokens, repetition_penalty=REPETITION_PENALTY)
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
                    yield visible(piece)  # a reply never drives the terminal (escape sequences made visible)
        finally:
            end = time.perf_counter()
            decode_s = end - first if first is not None else 0.0
            self.last_stats = ChatStats(
                ttft_s=(first - started) if first is not None else None, tokens=tokens,
                tokens_per_s=(tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else None,
                stopped=stopped, seconds=end - started)
            del generator

    def logits(self, ids, use_adapter: bool = True):
        """The model's logits at every position of `ids` (numpy, [len(ids), vocab]): one prefill, no generation.

        onnxruntime-genai 0.14 returns the whole prompt's logits from `get_output("logits")` after
        `append_tokens`, which is what scoring a held-out answer needs.
        """
        import onnxruntime_genai as og

        params = og.GeneratorParams(self._model)
        params.set_search_options(max_length=len(ids) + 1)
        generator = og.Generator(self._model, params)
        if use_adapter:
            generator.set_active_adapter(self._adapters, ADAPTER_NAME)
        generator.append_tokens(ids)
        out = generator.get_output("logits")
        del generator
        return out.reshape(-1, out.shape[-1])

    def reply(self, prompt: str, use_adapter: bool = True, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> str:
        """A whole reply to one user message (for the headless CLI and tests)."""
        return "".join(self.generate([{"role": "user", "content": prompt}], use_adapter, max_new_tokens))


def check_lengths(prompt_tokens: int, max_new_tokens: int, folder: Path) -> None:
    """Refuse at once (ValueError, with the numbers) what the model cannot take: onnxruntime-genai aborts the
    process on a reply of 0 tokens and grinds for a minute on a prompt longer than its context."""
    from .inputs import context_length, prompt_too_long

    if max_new_tokens < 1:
        raise ValueError(f"A reply of {max_new_tokens} tokens is not possible: ask for at least 1.")
    if problem := prompt_too_long(prompt_tokens, max_new_tokens, context_length(folder)):
        raise ValueError(problem)


APP_FILE = "app.py"

#: The lab's app.py for onnxruntime-genai 0.14 (`write_app` fills MODEL_DIR and PROMPT_FORMAT). Kept free of
#: Olive Lab imports: it is what a learner copies to a laptop next to the model folder.
APP_TEMPLATE = '''"""Chat with the travel assistant built by Olive Lab: the int4 ONNX model and its LoRA adapter, in onnxruntime-genai.

    python app.py                      # chat, adapter on (empty line or Ctrl+D ends)
    python app.py --no-adapter         # the base model, without the fine-tuned adapter
    python app.py --prompt "What should I see in Kyoto?"

Each question is answered on its own, the way the adapter was trained (one question, one answer).
Needs: pip install onnxruntime-genai==0.14.1
"""

import argparse
import json
from pathlib import Path

import onnxruntime_genai as og

MODEL_DIR = {model_dir}
ADAPTER_FILE = MODEL_DIR / "{adapter_file}"
ADAPTER_NAME = "{adapter_name}"
#: The text the model was fine-tuned on, up to where its answer starts (None: the model's own chat template).
PROMPT_FORMAT = {prompt_format!r}


def render(tokenizer, question: str) -> str:
    if PROMPT_FORMAT is not None:
        return PROMPT_FORMAT.replace("{{prompt}}", question)
    messages = json.dumps([{{"role": "user", "content": question}}])
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True)


def answer(model, tokenizer, adapters, question: str, max_new_tokens: int) -> str:
    ids = tokenizer.encode(render(tokenizer, question))
    params = og.GeneratorParams(model)
    # max_length counts the prompt's tokens too; the penalty keeps greedy decoding out of loops
    params.set_search_options(max_length=len(ids) + max_new_tokens, repetition_penalty={repetition_penalty})
    generator = og.Generator(model, params)
    if adapters is not None:
        generator.set_active_adapter(adapters, ADAPTER_NAME)
    generator.append_tokens(ids)
    stream = tokenizer.create_stream()
    pieces = []
    while not generator.is_done():
        generator.generate_next_token()
        piece = stream.decode(generator.get_next_tokens()[0])
        print(piece, end="", flush=True)
        pieces.append(piece)
    print()
    return "".join(pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-adapter", action="store_true", help="answer without the LoRA adapter")
    parser.add_argument("--prompt", help="answer this one question and exit")
    parser.add_argument("--max-new-tokens", type=int, default=200, help="longest answer, in tokens")
    args = parser.parse_args()
    model = og.Model(str(MODEL_DIR))
    tokenizer = og.Tokenizer(model)
    adapters = None
    if not args.no_adapter:
        if not ADAPTER_FILE.is_file():
            raise SystemExit(f"{{ADAPTER_FILE}} is missing: run with --no-adapter, or optimize with the adapter.")
        adapters = og.Adapters(model)
        adapters.load(str(ADAPTER_FILE), ADAPTER_NAME)
    if args.prompt:
        answer(model, tokenizer, adapters, args.prompt, args.max_new_tokens)
        return
    print(f"Model {{MODEL_DIR}}, adapter {{'off' if adapters is None else 'on'}}. Empty line or Ctrl+D ends.")
    while True:
        try:
            question = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not question:
            break
        answer(model, tokenizer, adapters, question, args.max_new_tokens)


if __name__ == "__main__":
    main()
'''


def app_script(lab: Lab) -> str:
    """The lab's app.py: this lab's model folder (relative to the work folder when inside it) and prompt format."""
    from .optimize import model_folder
    from .template import TemplateError, for_model

    folder = model_folder(lab)
    relative = lab.workspace.relative(folder)
    model_dir = (f"Path(__file__).resolve().parent / {relative!r}" if not Path(relative).is_absolute()
                 else f"Path({relative!r})")
    try:
        template = for_model(lab.base_dir)
    except TemplateError:  # no model folder yet: the ONNX model's own chat template, as the chat step uses
        template = None
    prompt_format = template.render_prompt("{prompt}") if template and template.kind == "lab" else None
    return APP_TEMPLATE.format(model_dir=model_dir, adapter_file=ADAPTER_FILE, adapter_name=ADAPTER_NAME,
                               prompt_format=prompt_format, repetition_penalty=REPETITION_PENALTY)


def write_app(lab: Lab) -> Path:
    """Write app.py into the work folder (the wizard and `olive-lab run` do, once the model is optimized)."""
    path = lab.workspace.root / APP_FILE
    path.write_text(app_script(lab), encoding="utf-8")
    return path


#: How often, at most, the model process sends what it has generated: twice per batch the wizard draws (10 a
#: second). Each send wakes the wizard's process, which takes a core from the model for a moment; the cpu
#: profile's model answers 200 tokens in about 45 ms, in one send.
SEND_EVERY_S = 0.05


class ChatProcess:
    """A `ChatSession` in a child process, for front ends that draw while the model talks (the wizard).

    Why a process: onnxruntime-genai keeps the GIL while it computes a token and its threads spin on every core,
    so in one process each redraw of the UI thread stalls the model several times what it costs: on a 2-core
    machine 10 redraws a second took 12% of the tokens/s, in a child they take nothing measurable
    (bench/tui_chat.py). The child speaks JSON lines on its stdin/stdout (`serve`); its stderr goes to a
    temporary file whose end is quoted if it dies.
    """

    def __init__(self, proc, folder: Path, has_adapter: bool, errors):
        self._proc, self.folder, self.has_adapter, self._errors = proc, folder, has_adapter, errors
        self._send_lock = threading.Lock()
        self.last_stats: ChatStats | None = None

    @classmethod
    def open(cls, model_dir: Path) -> ChatProcess:
        """Start the child and wait until the model is loaded; its load error is raised here."""
        import subprocess
        import sys
        import tempfile

        errors = tempfile.TemporaryFile()
        proc = subprocess.Popen([sys.executable, "-m", "olive_lab.steps.chat", str(model_dir)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errors, text=True, encoding="utf-8", bufsize=1)
        session = cls(proc, Path(model_dir), False, errors)
        hello = session._receive()
        if "error" in hello:
            session.close()
            raise _error(hello)
        session.has_adapter = hello["ready"]["has_adapter"]
        return session

    def generate(self, messages: list[dict], use_adapter: bool = True,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, stop: threading.Event | None = None,
                 ) -> Iterator[str]:
        """Stream the reply's text as `ChatSession.generate` does; `last_stats` is the child's measurement."""
        if use_adapter and not self.has_adapter:
            raise ValueError(f"No adapter: {self.folder / ADAPTER_FILE} is missing.")
        self._send({"generate": {"messages": messages, "use_adapter": use_adapter,
                                 "max_new_tokens": max_new_tokens}})
        finished = threading.Event()
        if stop is not None:
            threading.Thread(target=self._forward_stop, args=(stop, finished), daemon=True).start()
        try:
            while True:
                message = self._receive()
                if "text" in message:
                    yield message["text"]
                elif "done" in message:
                    self.last_stats = ChatStats(**message["done"])
                    return
                elif "error" in message:
                    raise _error(message)
                else:
                    raise RuntimeError(f"Unexpected answer from the model process: {message}")
        finally:
            finished.set()

    def close(self) -> None:
        """End the child (it also ends by itself when this process goes: its stdin closes)."""
        import subprocess

        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()
        self._errors.close()

    def _forward_stop(self, stop: threading.Event, finished: threading.Event) -> None:
        while not finished.is_set():
            if stop.wait(0.05):
                if not finished.is_set():
                    self._send({"stop": True})
                return

    def _send(self, message: dict) -> None:
        with self._send_lock:
            try:
                self._proc.stdin.write(json.dumps(message) + "\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # the child is gone: `_receive` says why

    def _receive(self) -> dict:
        line = self._proc.stdout.readline()
        if line:
            return json.loads(line)
        code = self._proc.wait()
        self._errors.seek(0)
        tail = self._errors.read()[-600:].decode("utf-8", "replace").strip()
        raise RuntimeError(f"The model process ended (exit code {code})" + (f": {tail}" if tail else "."))


def _error_message(exc: Exception) -> dict:
    return {"error": str(exc), "type": type(exc).__name__}


def _error(message: dict) -> Exception:
    """The child's exception as the same built-in type (what the UI shows reads as it did in one process)."""
    import builtins

    kind = getattr(builtins, message.get("type", ""), None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = RuntimeError
    return kind(message["error"])


def serve(model_dir: Path, requests=None, replies=None) -> int:
    """The child of `ChatProcess`: load, say ready (or the error), then answer `generate` requests; a `stop` line
    stops the reply being generated. Ends when its stdin closes."""
    import os
    import queue
    import sys

    requests = requests or sys.stdin
    if replies is None:  # the protocol gets its own copy of stdout; what native code prints goes to stderr
        replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def send(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    try:
        session = ChatSession.open(model_dir)
    except Exception as exc:  # noqa: BLE001 - the parent shows it
        send(_error_message(exc))
        return 1
    send({"ready": {"has_adapter": session.has_adapter}})
    work: queue.Queue = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        for line in requests:
            message = json.loads(line)
            if "stop" in message:
                stop.set()
            else:  # cleared here, in the order the lines came: a stop sent right after its request is kept
                stop.clear()
                work.put(message["generate"])
        work.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (request := work.get()) is not None:
        pending, sent_at = [], time.perf_counter()
        try:
            for piece in session.generate(request["messages"], request["use_adapter"], request["max_new_tokens"],
                                          stop=stop):
                pending.append(piece)
                if time.perf_counter() - sent_at >= SEND_EVERY_S:
                    send({"text": "".join(pending)})
                    pending, sent_at = [], time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - the parent shows it
            send(_error_message(exc))
            continue
        if pending:
            send({"text": "".join(pending)})
        send({"done": asdict(session.last_stats)})
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(serve(Path(sys.argv[1])))
