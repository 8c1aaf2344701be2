"""How a dataset row becomes model text: the lab's Phi-3 template, or the model's own chat template.

The lab fine-tunes Phi-3.5 with its exact template (`LAB_TEXT_TEMPLATE`); any other model (SmolLM2, a user's
`--model`) is trained, evaluated and chatted with in the format it was instruction-tuned on, read from its
`tokenizer_config.json` (or `chat_template.jinja`). Fine-tune, evaluation, chat and the data pane all take their
text from one `TextTemplate`, so a prompt is rendered the same way everywhere.

Rendering uses jinja2 the way transformers does, without importing transformers (the wizard stays fast).
Olive's `finetune --text_template` wants a `str.format` template over the row's fields; `olive_format()` makes
one from either kind, so Olive runs unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .profiles import LAB_TEXT_TEMPLATE

#: config.json `model_type`s that keep the lab's own template (the Phi-3 chat tokens).
PHI3_MODEL_TYPES = frozenset({"phi3", "phi3small", "phimoe"})
_PROMPT_MARK, _RESPONSE_MARK = "\x00PROMPT\x00", "\x00RESPONSE\x00"


class TemplateError(ValueError):
    """The model folder has no usable chat template; the message says which file and how to fix it."""


@dataclass(frozen=True)
class TextTemplate:
    """`kind` is "lab" (the Phi-3 template) or "chat" (the model's own); `source` says where it came from."""

    kind: str
    source: str
    chat_template: str = ""
    bos_token: str = ""
    eos_token: str = ""

    def render_prompt(self, prompt: str) -> str:
        """The text the model sees before it answers: everything up to the assistant's first token."""
        if self.kind == "lab":
            return LAB_TEXT_TEMPLATE.split("{response}")[0].format(prompt=prompt)
        return self._render([{"role": "user", "content": prompt}], add_generation_prompt=True)

    def render_example(self, prompt: str, response: str) -> str:
        """A whole training example: prompt, response and the end-of-turn marker."""
        if self.kind == "lab":
            return LAB_TEXT_TEMPLATE.format(prompt=prompt, response=response)
        return self._render([{"role": "user", "content": prompt}, {"role": "assistant", "content": response}])

    def olive_format(self) -> str:
        """A `str.format` template over the fields `prompt` and `response`, for `olive finetune --text_template`."""
        if self.kind == "lab":
            return LAB_TEXT_TEMPLATE
        text = self.render_example(_PROMPT_MARK, _RESPONSE_MARK)
        text = text.replace("{", "{{").replace("}", "}}")
        return text.replace(_PROMPT_MARK, "{prompt}").replace(_RESPONSE_MARK, "{response}")

    def _render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        return _compile(self.chat_template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                   bos_token=self.bos_token, eos_token=self.eos_token)


LAB = TextTemplate(kind="lab", source="the lab's Phi-3 template")


def for_model(model_dir: str | Path) -> TextTemplate:
    """The template for the model in `model_dir`: the lab's for Phi-3 models, else the model's chat template."""
    folder = Path(model_dir)
    config = _read_json(folder / "config.json")
    if config.get("model_type") in PHI3_MODEL_TYPES:
        return LAB
    tokenizer_config = _read_json(folder / "tokenizer_config.json")
    template, source = tokenizer_config.get("chat_template"), folder / "tokenizer_config.json"
    jinja_file = folder / "chat_template.jinja"
    if not template and jinja_file.is_file():
        template, source = jinja_file.read_text(encoding="utf-8"), jinja_file
    if isinstance(template, list):  # several named templates: transformers takes "default"
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    if not isinstance(template, str) or not template.strip():
        raise TemplateError(
            f"{folder} has no chat template (looked in tokenizer_config.json and chat_template.jinja) and is not a "
            f"Phi-3 model. Use an instruction-tuned model, or give the template with --template.")
    return TextTemplate(kind="chat", source=f"the model's chat template ({source.name})", chat_template=template,
                        bos_token=_token_text(tokenizer_config.get("bos_token")),
                        eos_token=_token_text(tokenizer_config.get("eos_token")))


def for_lab(lab) -> TextTemplate:
    """The template the lab's base model uses; known before the model step for the models the lab makes itself."""
    from .profiles import SMOLLM2_MODEL, TINY_MODEL

    if (lab.base_dir / "config.json").is_file():
        return for_model(lab.base_dir)
    if lab.base_model == TINY_MODEL or "phi-3" in lab.base_model.lower():
        return LAB
    if lab.base_model == SMOLLM2_MODEL:
        from . import smollm2

        return TextTemplate(kind="chat", source="SmolLM2's chat template (ChatML)", chat_template=smollm2.CHAT_TEMPLATE,
                            bos_token=smollm2.BOS_TOKEN, eos_token=smollm2.EOS_TOKEN)
    raise TemplateError(f"The text template of {lab.base_model} is its own chat template, read once the model step "
                        "has made the model folder: run the model step first.")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise TemplateError(f"{path} cannot be read as JSON ({exc}). Rebuild or re-download the model.") from exc
    return data if isinstance(data, dict) else {}


def _token_text(token) -> str:
    """tokenizer_config.json writes special tokens as strings or as `{"content": ...}` objects."""
    if isinstance(token, dict):
        return str(token.get("content", ""))
    return token if isinstance(token, str) else ""


@lru_cache(maxsize=8)
def _compile(source: str):
    """Compile like transformers' `apply_chat_template`: trimmed blocks and a `raise_exception` helper."""
    from jinja2 import TemplateError as JinjaError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(f"the model's chat template refused the conversation: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(source)
    except JinjaError as exc:
        raise TemplateError(f"the model's chat template does not parse: {exc}") from exc
