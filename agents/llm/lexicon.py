"""How each hotel action is said, and when saying it is an order (``understanding.py``).

Each action has *orders* — base forms and phrases ("cancel", "terminate", "call off",
"make a payment") — and *participles* ("cancelled", "paid"). A base form counts unless the
words before it, in its clause, negate it ("do not cancel"), make it a statement ("you can
cancel"), a condition or relative clause ("if you need to cancel", "anyone who wants to
book") or a report ("they offered to refund us"). A participle counts only as a passive or
causative order — "bk-1 should be cancelled", "have bk-1 cancelled", "I want it paid" — and
otherwise is narration ("the concierge arranged a taxi", "my booking was cancelled").

A sentence ending in "?" is a question, not an order, unless it is (or has a clause that
is) a request to the assistant ("could you cancel bk-1?"): from a question only reads
(:data:`QUESTION_READS`) are taken. A review's "could the booking be cancelled?" is thus
never carried out; a user's "what is the status of bk-1?" is answered by reading.

A tool's own name ("call cancel_booking with booking_id=bk-1") is an order for its action.

Linear by construction: alternations of literal words, each looked at once per match over
a bounded window before it; no nested quantifiers.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", _I)


ORDERS: dict[str, re.Pattern[str]] = {
    "list_hotels": _words(r"(?:list|which|what)\s(?:the\s)?hotels"),
    "reviews": _words(r"reviews?"),
    "search": _words(
        "find",
        "search",
        r"look\sfor",
        "availability",
        "available",
        r"any\srooms",
        r"how\smuch",
        "prices?",
        "quote",
    ),
    "book": re.compile(
        r"\b(?:book(?!ings?\b)|reserve|get\sme|grab|secure|make\sa\sreservation"
        r"|(?:need|want|like)\sa\s(?:room|double|single|suite))\b",
        _I,
    ),
    "pay": _words(
        "pay(?!-)",
        "settle",
        "(?<!of\\s)charge",
        r"make\sa\spayment",
        r"process\sthe\spayment",
        r"on\smy\scard",
        r"clear\sthe\s(?:outstanding|balance|bill)",
    ),
    "my_bookings": _words(
        r"(?:my|list|show|which)\s(?:my\s)?(?:bookings|reservations)",
        r"what\shave\si\s(?:booked|reserved)",
    ),
    "show_booking": _words(
        r"look\sup",
        "show",
        "check",
        r"status\sof",
        r"details\sof",
        r"pull\sup",
        "fetch",
        "retrieve",
        "view",
    ),
    "cancel": re.compile(
        r"\b(?:cancel|terminate|delete|void|drop(?!\soff)|call\soff|scrap|annul)\b", _I
    ),
    "change_dates": _words(
        "change",
        "move",
        "reschedule",
        "extend",
        "shift",
        "postpone",
        "push",
        "amend",
        r"bring\sforward",
    ),
    "rate_override": _words(
        r"rate\soverride",
        "override",
        r"set\sthe\s(?:nightly\s)?rate",
        r"manager\srate",
        r"(?:lower|reduce|adjust|drop)\sthe\s(?:nightly\s)?rate",
        "reprice",
    ),
    "refund": re.compile(
        r"(?<!\ba\s)(?<!\bthe\s)\brefund\b|\b(?:reimburse|give\sback|credit\sback"
        r"|(?:issue|process|make)\sa\srefund|return\sthe\smoney)\b",
        _I,
    ),
    "guest_profile": _words(
        "passport",
        "profile",
        r"personal\s(?:details|data)",
        r"date\sof\sbirth",
        r"home\saddress",
    ),
    "staff_directory": _words(
        r"staff\sdirectory",
        r"who\sis\son\sshift",
        r"list\s(?:the\s)?staff",
        r"staff\slist",
    ),
    "list_requests": _words(
        r"(?:open|pending|list|show)\s(?:me\s)?(?:the\s)?(?:open\s|pending\s)?"
        r"(?:concierge\s)?requests"
    ),
    "assign": _words("assign"),
    "concierge": re.compile(
        r"\b(?:(?:ask|tell|message)\sthe\s(?:front\s)?(?:desk|concierge)"
        r"|let\sthe\s(?:front\s)?desk\sknow|send|forward|e-?mail|mail|arrange|notify"
        r"|(?<!in\s)order|request\s(?:extra|an?|some|more)(?=\s))\b",
        _I,
    ),
}

# A tool's own name, as the tools document it, is an order for its action.
TOOL_NAMES: dict[str, str] = {
    "book_room": "book",
    "pay_booking": "pay",
    "cancel_booking": "cancel",
    "change_booking_dates": "change_dates",
    "override_rate": "rate_override",
    "refund_payment": "refund",
    "guest_profile": "guest_profile",
    "concierge_request": "concierge",
    "staff_directory": "staff_directory",
    "list_requests": "list_requests",
    "assign_request": "assign",
    "get_booking": "show_booking",
    "my_bookings": "my_bookings",
    "search_availability": "search",
}
TOOL_NAME = re.compile(r"\b(?:" + "|".join(TOOL_NAMES) + r")\b")

PARTICIPLES: dict[str, re.Pattern[str]] = {
    "book": _words("booked", "reserved", "secured"),
    "pay": _words("paid", "settled", "charged"),
    "cancel": _words(
        "cancell?ed",
        "terminated",
        "deleted",
        "voided",
        "dropped",
        r"called\soff",
        "scrapped",
        "annulled",
    ),
    "change_dates": _words(
        "changed",
        "moved",
        "rescheduled",
        "extended",
        "shifted",
        "postponed",
        "amended",
    ),
    "rate_override": re.compile(
        r"\brate\b[^.?!\n]{0,40}?\b(?:set|lowered|reduced|overridden|adjusted)\b", _I
    ),
    "refund": _words("refunded", "reimbursed", r"credited\sback"),
    "concierge": _words("sent", "forwarded", "e-?mailed", "arranged", "ordered", "requested"),
}

# Actions that name a booking: only with a booking id in the same sentence.
NEEDS_BOOKING = frozenset({"show_booking", "change_dates"})
# What a question may be answered with: reading, never changing or sending anything.
QUESTION_READS = frozenset(
    {"list_hotels", "reviews", "search", "my_bookings", "show_booking", "staff_directory",
     "list_requests"}
)  # fmt: skip

# Sentences end at . ! ? ; (before a space or the end) or a line break.
SENTENCE = re.compile(r"[.!?;]++(?=\s|$)|\n")
CLAUSE_BREAK = re.compile(r"[,;:]")
WINDOW = 60  # characters before a verb that decide whether it is an order

_NEGATION = _words(
    "not",
    "never",
    r"no\sneed",
    r"no\sone",
    "nobody",
    r"under\sno",
    "without",
    "n't",
    "don't",
    "dont",
    r"avoid",
)
_NEGATION_ENDING = re.compile(r"n[’']t\s", _I)
_STATEMENT = re.compile(
    r"\b(?:you|guests|one|they|we|i|people|he|she|it)\s(?:can|could|may|might|would|will)\s"
    r"(?:\w+\s)?$|\b(?:i|we|you|they)[’'](?:d|ll)\s$",
    _I,
)
_SUBORDINATE = _words(
    "who",
    "whoever",
    "if",
    "when",
    "whenever",
    "unless",
    "once",
    r"in\scase",
    "that",
    "which",
)
_REPORTED = re.compile(
    r"\b(?:offered|tried|decided|wanted|promised|managed|planned|used|agreed|refused|forgot|"
    r"needed|asked(?:\s\w+)?|told(?:\s\w+)?)\sto\s$",
    _I,
)
_ORDER_MARKER = _words(
    "should",
    "must",
    "shall",
    r"needs?\sto",
    r"has\sto",
    r"have\sto",
    r"is\sto",
    r"are\sto",
    "want",
    "wants",
    r"would\slike",
    r"[’']d\slike",
    "please",
    r"make\ssure",
)
_CAUSATIVE = re.compile(r"^\W*+(?:please\s)?(?:have|get)\b", _I)
_REQUEST_FORMULA = re.compile(
    r"^\W*+(?:please\s)?(?:(?:can|could|would|will)\s(?:you|u)|would\syou\smind"
    r"|(?:can|could|may)\si\s(?:have|get))\b",
    _I,
)
QUESTION_MARK = re.compile(r"\?\s*+$")


def clause_before(sentence: str, start: int) -> str:
    """The words before ``start`` in its clause, at most :data:`WINDOW` characters."""
    before = sentence[max(0, start - WINDOW) : start]
    cut = max(before.rfind(","), before.rfind(";"), before.rfind(":"))
    return before[cut + 1 :]


def is_order(sentence: str, start: int, participle: bool) -> bool:
    """Whether the verb at ``start`` is meant as an order (see the module's docstring)."""
    before = clause_before(sentence, start)
    if _NEGATION.search(before) or _NEGATION_ENDING.search(before):
        return False
    if _SUBORDINATE.search(before) or _REPORTED.search(before):
        return False
    if participle:
        wide = sentence[max(0, start - WINDOW) : start]
        return bool(_ORDER_MARKER.search(wide) or _CAUSATIVE.search(sentence))
    return not _STATEMENT.search(before)


def is_question(sentence: str) -> bool:
    """A question that is not a request to the assistant ("could you …?")."""
    if not QUESTION_MARK.search(sentence):
        return False
    return not any(_REQUEST_FORMULA.search(c) for c in CLAUSE_BREAK.split(sentence))
