"""`olive-lab chat`: talk to the optimized model in the terminal, with or without the LoRA adapter."""

from __future__ import annotations

import argparse

from olive_lab.cli import EXIT_BLOCKED, EXIT_OK, EXIT_USAGE, add_lab_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="chat with the optimized model (onnxruntime-genai)")
    add_lab_options(p)
    p.add_argument("--no-adapter", action="store_true", help="the base model, without the fine-tuned adapter")
    p.add_argument("--prompt", help="answer this one message and exit (otherwise: interactive)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="longest reply, in tokens (default 200)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from olive_lab.steps import pipeline
    from olive_lab.steps.chat import ChatSession
    from olive_lab.steps.units import fmt_chat_stats

    lab = pipeline.load_lab(args.workdir, args.profile, args.model, args.data)
    problems = pipeline.verify(lab, "chat")
    if problems:
        print(f"olive-lab chat: {problems[0]}", file=sys.stderr)
        return EXIT_BLOCKED
    session = ChatSession.for_lab(lab)
    use_adapter = not args.no_adapter
    if use_adapter and not session.has_adapter:
        print("olive-lab chat: this model has no adapter file; use --no-adapter.", file=sys.stderr)
        return EXIT_BLOCKED
    history: list[dict] = []

    def answer(text: str) -> None:
        history.append({"role": "user", "content": text})
        pieces = []
        for piece in session.generate(history, use_adapter, args.max_new_tokens):
            pieces.append(piece)
            print(piece, end="", flush=True)
        history.append({"role": "assistant", "content": "".join(pieces)})
        print(f"\n[{fmt_chat_stats(session.last_stats)} · adapter {'on' if use_adapter else 'off'}]")

    if args.prompt is not None:
        try:
            answer(args.prompt)
        except ValueError as exc:  # steps.chat.check_lengths: the prompt does not fit the model's context
            print(f"olive-lab chat: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_OK
    print(f"Chatting with {session.folder} (adapter {'on' if use_adapter else 'off'}). Empty line or Ctrl+D ends.")
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return EXIT_OK
        if not text:
            return EXIT_OK
        try:
            answer(text)
        except ValueError as exc:  # too long for the model's context: say so, and let the user go on
            history.pop()
            print(f"\n{exc}")
