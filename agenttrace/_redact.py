"""Secret redaction for captured values: by key name, and by pattern inside strings.

Scanning is on the hot path of every captured string, so a string is first checked for
cheap literal anchors (``in`` runs at C speed); the regular expressions run only when an
anchor is present. Markers never contain any character of the secret they replace.
"""

from __future__ import annotations

import functools
import re
from typing import Final

KEY_MARKER: Final = "[REDACTED]"
"""What a value under a sensitive key becomes."""

_SENSITIVE_KEY: Final = re.compile(
    # "token" but not token counts and limits (max_tokens, input_tokens, token_count) or
    # tokenizers: those are the numbers people most need to see in an LLM trace.
    r"pass(?:word|wd|phrase)?|pwd|secret|token(?!s|_?(?:count|usage|limit)|iz)|api[-_ ]?key|"
    r"apikey|access[-_ ]?key|"
    r"private[-_ ]?key|auth(?!ors?\b|ored\b|oring\b)|credential|cookie|session|dsn|jwt|bearer|"
    r"signature",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def is_sensitive_key(name: str) -> bool:
    """Whether a value under the key (or parameter) ``name`` is redacted whole.

    Example:
        >>> is_sensitive_key("api_key"), is_sensitive_key("author")
        (True, False)
    """
    return _SENSITIVE_KEY.search(name) is not None


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


_T = r"[A-Za-z0-9_\-]"
_QUERY_NAMES = (
    r"api[-_]?key|apikey|access[-_]?token|refresh[-_]?token|token|secret|client[-_]?secret|"
    r"password|passwd|pwd|key|sig|signature|auth|credential|credentials|session[-_]?id"
)
# (gate characters, anchors, pattern, replacement). A one-character ``in`` is a memchr, about
# twenty times cheaper than a substring search, so the gates are checked first.
_PATTERNS: Final[tuple[tuple[tuple[str, tuple[str, ...]], re.Pattern[str], str], ...]] = (
    (
        ("-", ("PRIVATE KEY",)),
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        _marker("private_key"),
    ),
    (
        ("-", ("sk-",)),
        re.compile(rf"\bsk-(?:ant-|proj-)?{_T}{{16,}}"),
        _marker("api_key"),
    ),
    (
        ("KS", ("AKIA", "ASIA")),
        re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{12,16}\b"),
        _marker("aws_key"),
    ),
    (
        ("_", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
        re.compile(rf"\b(?:gh[pousr]_|github_pat_){_T}{{8,}}"),
        _marker("github_token"),
    ),
    (
        ("-", ("xox",)),
        re.compile(rf"\bxox[abprs]-{_T}{{6,}}"),
        _marker("slack_token"),
    ),
    (
        ("J", ("eyJ",)),
        re.compile(rf"\beyJ{_T}+\.(?:{_T}+\.?)*"),
        _marker("jwt"),
    ),
    (
        ("bB", ("earer", "EARER")),
        re.compile(
            r"(?i:(bearer)\s+)[A-Za-z0-9_\-.~+/=]{8,}|(?i:(bearer)\s+)[A-Za-z0-9_\-.~+/=]+\Z"
        ),
        "Bearer " + _marker("bearer"),
    ),
    (
        (":", ("://",)),
        re.compile(r"(?<=://)([^\s:/@]*):[^\s/@]+@"),
        r"\1:" + _marker("url_password") + "@",
    ),
    (
        ("=", ("=",)),
        re.compile(rf"(?i)\b((?:[a-z0-9]+[-_])*(?:{_QUERY_NAMES}))=[^&\s\"';#]+"),
        r"\1=" + _marker("query_secret"),
    ),
)


# The start of a token, running to the end of a text that was cut: what is left of a secret
# that a truncation window cut short. Only checked at the end of a cut window, where a
# shortened token is the likely reading; elsewhere "ASIA" is just a word.
_REMNANT: Final = re.compile(
    r"(?:\b(?:sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|eyJ)|(?i:bearer\s+))"
    r"[A-Za-z0-9_\-.~+/=]*\Z"
)
_REMNANT_ANCHORS: Final = (
    "sk-",
    "AKIA",
    "ASIA",
    "gh",
    "github_pat_",
    "xox",
    "eyJ",
    "earer",
    "EARER",
)
_REMNANT_SPAN: Final = 160
"""Characters at the end of a cut window searched for a remnant (longer than any prefix)."""


def redact_text(text: str, *, cut: bool = False) -> str:
    """``text`` with every recognised secret replaced by a ``[REDACTED:kind]`` marker.

    Recognised: OpenAI and Anthropic keys, AWS access key ids, GitHub and Slack tokens,
    JWTs, bearer tokens, passwords in URLs and DSNs, secret-named ``name=value`` pairs (query
    strings, form bodies, connection strings) and PEM private keys.

    Args:
        text: The text.
        cut: ``text`` was cut from a longer one: also redact a token cut short at its end.

    Example:
        >>> redact_text("postgresql://app:hunter2@db/app")
        'postgresql://app:[REDACTED:url_password]@db/app'
    """
    for (gates, anchors), pattern, replacement in _PATTERNS:
        for gate in gates:
            if gate in text:
                for anchor in anchors:
                    if anchor in text:
                        text = pattern.sub(replacement, text)
                        break
                break
    if cut:
        tail = text[-_REMNANT_SPAN:]
        for anchor in _REMNANT_ANCHORS:
            if anchor in tail:
                text = text[:-_REMNANT_SPAN] + _REMNANT.sub(_marker("truncated_token"), tail)
                break
    return text
