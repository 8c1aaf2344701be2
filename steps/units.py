"""How both faces write sizes, durations and chat statistics: one function per kind, so they show the same figures.

Conventions, and why:
- Sizes are decimal (SI): 1 kB = 1000 B, 1 MB = 1e6 B, 1 GB = 1e9 B. The lab's own figures are decimal already
  (the profiles' disk estimates in GB, the Hugging Face hub's and Azure ML's file sizes, `df -H`), so a size on screen
  can be compared with them without converting. One decimal above bytes: "512 B", "86.0 kB", "2.4 MB", "1.2 GB".
  (GPU memory is the exception, in GiB as nvidia-smi and torch report it; steps/check.py writes those.)
- Durations are a stopwatch's "M:SS", hours only when there are any: 7 s -> "0:07", 83 s -> "1:23",
  3723 s -> "1:02:03". It is the shortest form that still reads as a clock, and the wizard's step list is narrow.
- Chat statistics read "first token 41 ms · 59.2 tokens/s · 60 tokens", each part left out when unknown.
"""

from __future__ import annotations

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB")


def fmt_bytes(n: float | None) -> str:
    """512 -> "512 B", 86_000 -> "86.0 kB", 2_400_000 -> "2.4 MB"; None -> "?"."""
    if n is None:
        return "?"
    for unit in _SIZE_UNITS:
        if abs(n) < 1000 or unit == _SIZE_UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # the last unit always returns


def fmt_gb(gb: float | None) -> str:
    """An estimate given in GB (1e9 bytes), in words: "about 240 MB", "about 1.2 GB"; None -> "unknown"."""
    if gb is None:
        return "unknown"
    if gb < 1:
        return f"about {int(round(gb * 1000))} MB"
    return f"about {gb:.1f} GB"


def fmt_duration(seconds: float | None) -> str:
    """7 -> "0:07", 83 -> "1:23", 3723 -> "1:02:03"; None -> ""."""
    if seconds is None:
        return ""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def fmt_expected(seconds: float | None) -> str:
    """A rough expectation in words: "about 40 s", "about 8 min", "about 1.5 h"; None -> "unknown"."""
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"about {int(round(seconds))} s"
    if seconds < 5400:
        return f"about {int(round(seconds / 60))} min"
    return f"about {seconds / 3600:.1f} h"


def fmt_ms(ms: float | None) -> str:
    """A short time in milliseconds: "41 ms", "4.1 ms"; None -> "–"."""
    if ms is None:
        return "–"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def fmt_chat_stats(stats) -> str:
    """One reply's figures (a steps.chat.ChatStats): "first token 41 ms · 59.2 tokens/s · 60 tokens[ · stopped]"."""
    parts = []
    if stats.ttft_s is not None:
        parts.append(f"first token {fmt_ms(stats.ttft_s * 1000)}")
    if stats.tokens_per_s:
        parts.append(f"{stats.tokens_per_s:.1f} tokens/s")
    parts.append(f"{stats.tokens} tokens")
    if stats.stopped:
        parts.append("stopped")
    return " · ".join(parts)
