"""The one way both faces write sizes, durations and chat figures (steps/units.py)."""

from olive_lab.steps.chat import ChatStats
from olive_lab.steps.units import fmt_bytes, fmt_chat_stats, fmt_duration, fmt_expected, fmt_gb, fmt_ms


def test_sizes_are_decimal_with_one_decimal_above_bytes():
    assert [fmt_bytes(n) for n in (0, 999, 86_000, 2_400_000, 1_250_000_000, 3.2e15)] == \
        ["0 B", "999 B", "86.0 kB", "2.4 MB", "1.2 GB", "3200.0 TB"]
    assert fmt_bytes(None) == "?"
    assert (fmt_gb(0.24), fmt_gb(1.25), fmt_gb(None)) == ("about 240 MB", "about 1.2 GB", "unknown")


def test_durations_read_as_a_stopwatch():
    assert [fmt_duration(s) for s in (0, 7, 83, 3599.6, 3723)] == ["0:00", "0:07", "1:23", "1:00:00", "1:02:03"]
    assert fmt_duration(None) == "" and fmt_duration(-3) == "0:00"
    assert [fmt_expected(s) for s in (40, 480, 5400, None)] == ["about 40 s", "about 8 min", "about 1.5 h", "unknown"]


def test_chat_figures_leave_out_what_is_unknown():
    assert fmt_chat_stats(ChatStats(ttft_s=0.0412, tokens=60, tokens_per_s=59.24, stopped=False, seconds=1.0)) == \
        "first token 41 ms · 59.2 tokens/s · 60 tokens"
    assert fmt_chat_stats(ChatStats(ttft_s=None, tokens=1, tokens_per_s=None, stopped=True, seconds=0.1)) == \
        "1 tokens · stopped"
    assert (fmt_ms(4.12), fmt_ms(None)) == ("4.1 ms", "–")
