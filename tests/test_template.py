"""The text template follows the model: Phi-3 keeps the lab's, others use their own chat template."""

import json

import pytest

from olive_lab.steps import template
from olive_lab.steps.profiles import LAB_TEXT_TEMPLATE

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def model_folder(tmp_path, model_type, tokenizer_config=None):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    if tokenizer_config is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return tmp_path


def test_phi3_keeps_the_lab_template(tmp_path):
    t = template.for_model(model_folder(tmp_path, "phi3", {"chat_template": CHATML}))
    assert t.olive_format() == LAB_TEXT_TEMPLATE
    assert t.render_prompt("Hi?") == "<|user|>\nHi?<|end|>\n<|assistant|>\n"
    assert t.render_example("Hi?", "Yo.") == "<|user|>\nHi?<|end|>\n<|assistant|>\nYo.<|end|>"


def test_other_models_use_their_chat_template(tmp_path):
    t = template.for_model(model_folder(tmp_path, "llama", {"chat_template": CHATML}))
    assert t.kind == "chat" and "tokenizer_config.json" in t.source
    assert t.render_prompt("Hi?") == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n" \
                                     "<|im_start|>assistant\n"
    example = t.render_example("Hi?", "Yo.")
    assert example.startswith(t.render_prompt("Hi?")) and example.endswith("Yo.<|im_end|>\n")


def test_olive_format_renders_like_the_chat_template_even_with_braces(tmp_path):
    t = template.for_model(model_folder(tmp_path, "llama", {"chat_template": "{{ '{x}' }}" + CHATML}))
    row = {"prompt": "a {b} c", "response": "{}"}
    assert t.olive_format().format(**row) == t.render_example(row["prompt"], row["response"])


def test_a_model_without_template_is_refused_with_the_files_named(tmp_path):
    with pytest.raises(template.TemplateError, match="tokenizer_config.json and chat_template.jinja"):
        template.for_model(model_folder(tmp_path, "llama", {}))
