"""What the embedded model understands of an English sentence: the hotel tasks, no more.

A request like "Book a double room at the Grand Meridian from 2026-12-10 to 2026-12-12 and
pay for it" becomes an :class:`Intent` — the actions asked for and their arguments. The same
reading is applied to text found in tool output when the model is set to obey it (a hijacked
model reads a review's "book the suite…" as an instruction); see ``planner.py``.

Deterministic by construction: regular expressions over the text, nothing random.

Linear by construction too, since the text may be an attacker's (a review, a message): no
pattern has nested or adjacent quantifiers over overlapping classes, every open-ended run
starts only at the start of its token (a negative lookbehind) and is possessive or bounded,
and "X … later Y" is two searches, not ``X.*Y`` (OWASP: Regular expression Denial of
Service). ``tests/agents/test_model_limits.py`` holds parse time linear (hypothesis).
Which words are orders, and when: ``lexicon.py``; checked by ``tests/agents/corpus``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from agents.llm import lexicon

# The actions, in the order the planner performs them when a request asks for several.
ACTIONS = (
    "list_hotels",
    "reviews",
    "search",
    "book",
    "pay",
    "my_bookings",
    "show_booking",
    "cancel",
    "change_dates",
    "rate_override",
    "refund",
    "guest_profile",
    "staff_directory",
    "list_requests",
    "assign",
    "concierge",
    "handoff",
)

_MONTHS = {
    m: n
    for n, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for m in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    rf"\b(\d{{4}})-(\d{{2}})-(\d{{2}})\b"  # 2026-12-10
    rf"|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+(\d{{4}})\b"  # 10 December 2026
    rf"|\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b",  # December 10, 2026
    re.IGNORECASE,
)
_NIGHTS = re.compile(
    r"\b(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)\s(?:more\s)?nights?\b", re.I
)
_WORD_NUMBERS = {
    w: n
    for n, w in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"), start=1
    )
}
_ROOM = re.compile(r"\b(single|double|suite)\b", re.I)
_HOTEL = re.compile(
    r"\b(?:at|in|of|for)\s+(?:the\s+)?([A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*){0,3})"
    # A hotel slug starts at its token's start and is at most five words: one scan per token.
    r"|(?<![\w-])(grand-meridian|harbor-view|alpine-lodge|[a-z]+(?:-[a-z]+){1,4}-hotel)\b"
)
_NOT_HOTELS = {"alice", "bob", "carol", "dave", "i", "the", "my", "booking", "staff", "ai"}
_BOOKING_ID = re.compile(r"\bbk-[A-Za-z0-9]{3,12}\b")
_PAYMENT_ID = re.compile(r"\bpay-[A-Za-z0-9]{3,12}\b")
_REQUEST_ID = re.compile(r"\breq-[A-Za-z0-9]{3,12}\b")
_CARD_ID = re.compile(r"(?<![\w.-])pm-[a-z0-9._-]{1,64}-\d{1,9}\b")
# RFC 5321 §4.5.3.1: a local part of at most 64 octets, a domain of at most 255.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z]{2,63}\b"
)
# A number is read whole (possessive, from its first digit) and judged in ``_money``.
_NUMBER = r"(?<![\d,.])(\d[\d,]*+(?:\.\d{1,2})?+)"
_MONEY = re.compile(
    rf"(?:\$|usd|eur|€)\s*+{_NUMBER}|{_NUMBER}\s*+(dollars|euros|usd|eur|cents)\b",
    re.I,
)
# Above this an amount is not a hotel price but an attack or a typo: refused, not charged.
MAX_AMOUNT_CENTS = 100_000_000_00
_GUEST_ID = re.compile(
    r"\b(?:guest|profile of|details of|for)\s+(?:guest\s+)?([a-z][a-z0-9._-]{1,40})\b"
    r"|\bguest_id\W{1,4}([a-z][a-z0-9._-]{1,40})\b"
)
# Arguments named as a tool names them: "amount_cents=1000", "nightly_rate_cents": 1000.
_CENTS_ARG = re.compile(r"\b(?:amount|nightly_rate)_cents\W{1,4}(\d{1,12})\b")
_STAFF_ID = re.compile(r"\bto\s+(?:staff\s+(?:member\s+)?)?([a-z][a-z0-9._-]{1,40})\b")

_HANDOFF = re.compile(
    r"\b(hand (it |this )?(over|off)|pass (it |this )?(on )?|ask)\b.{0,20}\bstaff[- ]assistant\b",
    re.I,
)


@dataclass
class Intent:
    """The actions a sentence asks for, and the arguments it names."""

    actions: list[str] = field(default_factory=list)
    hotel_id: str | None = None
    room_type: str | None = None
    check_in: str | None = None
    check_out: str | None = None
    booking_id: str | None = None
    payment_id: str | None = None
    request_id: str | None = None
    card_id: str | None = None
    amount_cents: int | None = None
    recipient: str | None = None
    guest_id: str | None = None
    staff_id: str | None = None
    bad_amount: bool = False  # an amount was named but is no sane price (absurd, overflow)
    nights: int | None = None  # a stay's length, when named ("for 10 nights")
    text: str = ""

    def wants(self, action: str) -> bool:
        return action in self.actions


def understand(text: str) -> Intent:
    """Read one request (or one piece of injected text) into an :class:`Intent`."""
    intent = Intent(text=text.strip())
    found = _orders(text)
    if _HANDOFF.search(text):
        found.add("handoff")
    if "handoff" in found or "list_requests" in found:
        found.discard("concierge")
    dates = _dates(text)
    if len(dates) >= 2:
        intent.check_in, intent.check_out = dates[0].isoformat(), dates[1].isoformat()
    nights = _NIGHTS.search(text)
    if nights:
        intent.nights = _WORD_NUMBERS.get(nights.group(1).lower()) or int(nights.group(1))
    if len(dates) == 1 and intent.nights:
        intent.check_in = dates[0].isoformat()
        intent.check_out = (dates[0] + timedelta(days=intent.nights)).isoformat()
    intent.hotel_id = _hotel(text)
    room = _ROOM.search(text)
    intent.room_type = room.group(1).lower() if room else None
    intent.booking_id = _first(_BOOKING_ID, text)
    intent.payment_id = _first(_PAYMENT_ID, text)
    intent.request_id = _first(_REQUEST_ID, text)
    intent.card_id = _first(_CARD_ID, text)
    email = _EMAIL.search(text)
    intent.recipient = email.group(0) if email else None
    intent.amount_cents, intent.bad_amount = _money(text)
    cents = _CENTS_ARG.search(text)
    if intent.amount_cents is None and cents and 0 < int(cents.group(1)) <= MAX_AMOUNT_CENTS:
        intent.amount_cents = int(cents.group(1))
    if "change_dates" in found and "book" in found and intent.booking_id:
        found.discard("book")  # "change booking bk-… to …" is not a new booking
    if "cancel" in found:
        found -= {"book"}
    if "guest_profile" in found:
        guest = _GUEST_ID.search(text)
        intent.guest_id = (guest.group(1) or guest.group(2)) if guest else None
    if "assign" in found:
        staff = _STAFF_ID.search(text.split("assign", 1)[-1])
        intent.staff_id = staff.group(1) if staff else None
    if "concierge" in found and ("book" in found or "search" in found) and not intent.recipient:
        found.discard("concierge")  # "book … and tell the concierge" is rare; keep one reading
    if "reviews" in found and "book" not in found:
        found.add("search") if intent.check_in else None
    intent.actions = [a for a in ACTIONS if a in found]
    return intent


def acts(intent: Intent) -> bool:
    """Whether an intent asks for more than looking (what an obedient model acts on)."""
    return bool(set(intent.actions) - {"reviews", "search", "list_hotels"})


def gist(intent: Intent) -> tuple[object, ...]:
    """What an intent would do: its actions and the arguments that decide their effect."""
    i = intent
    return (tuple(i.actions), i.hotel_id, i.room_type, i.check_in, i.check_out, i.nights,
            i.booking_id, i.payment_id, i.amount_cents, i.recipient, i.guest_id)  # fmt: skip


def looks_like_instruction(text: str) -> bool:
    """Whether text in tool output reads as an order (what an obedient model acts on)."""
    intent = understand(text)
    acts = set(intent.actions) - {"reviews", "search", "list_hotels"}
    return bool(acts)


def anchored(intent: Intent, request: Intent) -> Intent:
    """Text read in the conversation that names a stay's length but no dates ("book the
    suite for 10 nights") starts it when the user's own request does, at its hotel if it
    names none: a model reads a review in the context of the stay it is booking."""
    if intent.check_in or not intent.nights or not request.check_in:
        return intent
    start = date.fromisoformat(request.check_in)
    return replace(
        intent,
        hotel_id=intent.hotel_id or request.hotel_id,
        check_in=start.isoformat(),
        check_out=(start + timedelta(days=intent.nights)).isoformat(),
    )


def _dates(text: str) -> list[date]:
    found: list[date] = []
    for m in _DATE.finditer(text):
        try:
            if m.group(1):
                found.append(date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
            elif m.group(4):
                found.append(date(int(m.group(6)), _MONTHS[m.group(5).lower()], int(m.group(4))))
            else:
                found.append(date(int(m.group(9)), _MONTHS[m.group(7).lower()], int(m.group(8))))
        except ValueError:
            continue
    return found


def _hotel(text: str) -> str | None:
    for m in _HOTEL.finditer(text):
        if m.group(2):
            return m.group(2)
        words = [w for w in m.group(1).split() if w.lower() not in {"hotel", "the"}]
        # Stop at words that are not part of a name (months, weekdays, "From", …).
        name: list[str] = []
        for w in words:
            if w.lower().rstrip(".,") in _MONTHS or w.lower() in {"from", "on", "for"}:
                break
            name.append(w.strip(".,"))
        if name and name[0].lower() not in _NOT_HOTELS:
            return "-".join(n.lower() for n in name)
    return None


def _money(text: str) -> tuple[int | None, bool]:
    """The amount named, in cents, and whether a named amount had to be refused.

    Decimal arithmetic, so "$" followed by hundreds of nines is a refused amount rather than
    a float overflow.
    """
    m = _MONEY.search(text)
    if not m:
        return None, False
    raw = (m.group(1) or m.group(2)).replace(",", "")
    unit = (m.group(3) or "").lower()
    if len(raw) > 24:  # far above MAX_AMOUNT_CENTS; spare Decimal the digits
        return None, True
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None, True
    cents = int(value) if unit == "cents" else int((value * 100).to_integral_value())
    if not 0 < cents <= MAX_AMOUNT_CENTS:
        return None, True
    return cents, False


def _orders(text: str) -> set[str]:
    """The actions ``text`` orders, sentence by sentence (``lexicon.py``)."""
    found: set[str] = set()
    begin = 0
    for end in [m.end() for m in lexicon.SENTENCE.finditer(text)] + [len(text)]:
        sentence = text[begin:end]
        begin = end
        if not sentence.strip():
            continue
        here = {a for a in lexicon.ORDERS if _ordered(a, sentence)}
        for m in lexicon.TOOL_NAME.finditer(sentence):
            if lexicon.is_order(sentence, m.start(), participle=False):
                here.add(lexicon.TOOL_NAMES[m.group(0)])
        if "rate_override" in here:
            here -= {"cancel", "change_dates"}  # "drop the rate", "change the rate"
        if "assign" in here:
            here.discard("concierge")  # "assign request req-1 to …"
        if not _BOOKING_ID.search(sentence):
            here -= lexicon.NEEDS_BOOKING
        if lexicon.is_question(sentence):
            here &= lexicon.QUESTION_READS
        found |= here
    return found


def _ordered(action: str, sentence: str) -> bool:
    for m in lexicon.ORDERS[action].finditer(sentence):
        if lexicon.is_order(sentence, m.start(), participle=False):
            return True
    participle = lexicon.PARTICIPLES.get(action)
    for m in participle.finditer(sentence) if participle else ():
        if lexicon.is_order(sentence, m.end(), participle=True):
            return True
    return False


def _followed(first: re.Pattern[str], then: re.Pattern[str], text: str) -> bool:
    """``first.*then`` on one line (``.`` stops at a newline), without backtracking."""
    for line in text.split("\n"):
        m = first.search(line)
        if m and then.search(line, m.end()):
            return True
    return False


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text)
    return m.group(0) if m else None
