"""PII recognizers for presidio-analyzer, beyond its defaults: Chinese identifiers, secrets.

Validators are plain functions (checksums, dates), used by presidio `PatternRecognizer`s
through `validate_result`. Context words raise a match's score when they appear just
before it in the raw text: presidio's own context enhancer works on NLP-engine tokens and
lemmas, which an offline pattern-only engine does not produce and which do not exist for
unsegmented Chinese, so the window is matched as a substring here.

Entity types (the `<|pii_*|>` placeholders of the vocabulary use the lower-case names):
CN_RESIDENT_ID, CN_MOBILE, CN_LANDLINE, BANK_CARD, CN_PASSPORT, HK_ID, TW_ID, EMAIL,
PHONE, CREDIT_CARD, IBAN, IP_ADDRESS, URL_CREDENTIALS, SECRET.
"""
from __future__ import annotations

import re
from datetime import date

import regex
from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import IpRecognizer, PhoneRecognizer
from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

# Regexes run in ASCII mode: \b and \w then treat Chinese characters as non-word, so a number
# written right against them ("IP：10.0.0.1服务器", "卡号6222...。") still has its boundary.
# presidio compiles with the `regex` module, whose flag values differ from `re`'s.
FLAGS = regex.DOTALL | regex.MULTILINE | regex.ASCII
PRESIDIO_FLAGS = FLAGS | regex.IGNORECASE       # presidio's own patterns are written case-insensitive

TW_LETTERS = {c: v for c, v in zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36))}


def cn_id_valid(s: str) -> bool:
    """Mainland resident ID (GB 11643-1999): 6-digit region (first digit 1-8), a real birth date
    since 1900, sequence, ISO 7064 MOD 11-2 check character (python-stdnum's cn.ric). The region
    is not looked up: stdnum's list misses retired codes that old IDs still carry."""
    s = s.upper().replace(" ", "")
    if not re.fullmatch(r"\d{17}[\dX]", s) or s[0] not in "12345678" or ric.calc_check_digit(s) != s[17]:
        return False
    try:
        return date(1900, 1, 1) <= ric.get_birth_date(s) <= date.today()
    except ValidationError:
        return False


def luhn_valid(digits: str) -> bool:
    """A card number of 12+ digits (separators ignored) with a valid Luhn check digit."""
    ds = re.sub(r"\D", "", digits)
    return len(ds) >= 12 and luhn.is_valid(ds)


# python-stdnum has no Hong Kong or Taiwan identity card: their check digits are written here.
def hk_id_valid(s: str) -> bool:
    """Hong Kong identity card: 1-2 letters, 6 digits, check digit (0-9 or A), mod 11."""
    m = re.fullmatch(r"([A-Z]{1,2})(\d{6})\(?([0-9A])\)?", s.upper())
    if not m:
        return False
    letters, digits, check = m.groups()
    letters = letters.rjust(2)
    vals = [36 if c == " " else ord(c) - 55 for c in letters] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(vals, range(9, 1, -1)))
    c = 10 if check == "A" else int(check)
    return (total + c) % 11 == 0


def tw_id_valid(s: str) -> bool:
    """Taiwan national ID: a letter (region), 1 or 2 (sex), 8 digits, mod 10 checksum."""
    s = s.upper()
    if not re.fullmatch(r"[A-Z][12]\d{8}", s):
        return False
    n = TW_LETTERS[s[0]]
    total = n // 10 + (n % 10) * 9 + sum(int(d) * w for d, w in zip(s[1:9], range(8, 0, -1))) + int(s[9])
    return total % 10 == 0


class ContextRecognizer(PatternRecognizer):
    """A PatternRecognizer whose score rises by `boost` when a context word appears within
    `window` characters before the match (case-insensitive substring, so it works for
    Chinese), and whose matches may be checked by `validator`."""

    def __init__(self, entity: str, patterns: list[Pattern], context: list[str], language: str,
                 validator=None, boost: float = 0.35, window: int = 24):
        super().__init__(supported_entity=entity, patterns=patterns, context=context, global_regex_flags=FLAGS,
                         supported_language=language, name=f"{entity.title().replace('_', '')}Recognizer")
        self.validator, self.boost, self.window = validator, boost, window
        self.words = [w.lower() for w in context]

    def validate_result(self, pattern_text: str):
        if self.validator is None:
            return None
        return bool(self.validator(pattern_text))

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts=None, regex_flags=regex_flags)
        low = text.lower()
        for r in results:
            before = low[max(0, r.start - self.window):r.start]
            if any(w in before for w in self.words):
                r.score = min(1.0, r.score + self.boost)
        return results


# (entity, [(name, regex, score)], context words, validator)
SPECS = [
    ("CN_RESIDENT_ID", [("cn_id", r"(?<![0-9A-Za-z])[1-8]\d{5} ?(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                                  r" ?\d{3}[\dXx](?![0-9A-Za-z])", 0.6)],
     ["身份证", "身份证号", "证件号", "公民身份", "id card", "id number", "identity"], cn_id_valid),
    ("CN_MOBILE", [("cn_mobile", r"(?<![\d+])(?:(?:\+|00)?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)", 0.6)],
     ["手机", "电话", "联系", "致电", "微信", "mobile", "phone", "tel", "call"], None),
    ("CN_LANDLINE", [("cn_landline", r"(?<![\d+])(?:\(0\d{2,3}\)|0\d{2,3})[- ]?[2-9]\d{6,7}(?!\d)", 0.3)],
     ["电话", "座机", "传真", "联系", "tel", "phone", "fax"], None),
    ("BANK_CARD", [("bank_card", r"(?<!\d)62\d{2}(?:[- ]?\d{4}){2,3}(?:[- ]?\d{1,3})?(?!\d)", 0.5)],
     ["银行卡", "卡号", "账号", "账户", "储蓄卡", "信用卡", "card", "account"], luhn_valid),
    ("CN_PASSPORT", [("cn_passport", r"(?<![0-9A-Za-z])(?:[EGDSP]\d{8}|E[A-HJ-NP-Z]\d{7})(?![0-9A-Za-z])", 0.2)],
     ["护照", "passport"], None),
    ("HK_ID", [("hk_id", r"(?<![0-9A-Za-z])[A-Z]{1,2}\d{6}\([0-9A]\)", 0.5)],
     ["香港身份证", "身份证", "hkid", "hong kong identity"], hk_id_valid),
    ("TW_ID", [("tw_id", r"(?<![0-9A-Za-z])[A-Z][12]\d{8}(?![0-9A-Za-z])", 0.5)],
     ["身分證", "身份证", "统一编号", "national id"], tw_id_valid),
    ("EMAIL", [("email", r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}"
                         r"(?![A-Za-z0-9-])", 0.85),
               # obfuscated against scrapers: name [at] host [dot] com, name（at）host.com
               ("email_obfuscated",
                r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]* ?(?i:\[at\]|\(at\)|（at）|\{at\}|<at>)"
                r" ?(?:[A-Za-z0-9-]+ ?(?i:\.|\[dot\]|\(dot\)|（dot）) ?)+[A-Za-z]{2,24}(?![A-Za-z0-9-])", 0.6)],
     ["邮箱", "电邮", "email", "e-mail", "mail"], None),
    ("URL_CREDENTIALS", [("url_creds", r"\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]+:[^\s:/@]+@[^\s/]+", 0.9)], [], None),
    ("SECRET", [("aws_key", r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])", 0.9),
                ("private_key", r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY(?: BLOCK)?-----", 0.95),
                ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36}\b", 0.9),
                ("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", 0.9),
                ("openai_like_key", r"(?<![A-Za-z0-9])sk[-_](?:proj-|live_|test_)?[A-Za-z0-9_-]{20,}", 0.85),
                # KEY = value lines, the key name possibly prefixed (AWS_SECRET_ACCESS_KEY, OPENAI_API_KEY)
                ("assigned_secret", r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_]*?(?:api[_-]?key|secret(?:[_-]?access)?[_-]?key|"
                                    r"access[_-]?token|auth[_-]?token|client[_-]?secret|password|passwd)"
                                    r"['\"]?\s*[:=]\s*['\"]?[^\s'\"]{8,}", 0.7),
                ("assigned_secret_zh", r"(?:密码|密钥|口令|令牌)\s*[:：=]\s*[^\s，。；、]{6,}", 0.7)],
     ["key", "token", "secret", "密钥", "密码"], None),
]


def custom_recognizers(language: str) -> list[PatternRecognizer]:
    return [ContextRecognizer(entity, [Pattern(n, rx, sc) for n, rx, sc in pats], ctx, language, validator)
            for entity, pats, ctx, validator in SPECS]


class WindowedPhoneRecognizer(PhoneRecognizer):
    """presidio's libphonenumber recognizer, run only on the windows that can hold a number.

    presidio's PhoneRecognizer runs `PhoneNumberMatcher` over the whole text once per region
    (87% of the engine's time on 2 KB web pages). A phone number has at least 7 digits, so
    the matcher runs on each run of >= 7 digits (with separators) plus a margin, and the
    results are shifted back: the same numbers at a fraction of the cost. Context words
    within `window` characters before a number raise its score as in ContextRecognizer.
    """

    CANDIDATE = re.compile(r"\+?\(?\d(?:[\d \t().\-/]{0,3}\d){6,}")
    CONTEXT_WORDS = ("phone", "tel", "call", "mobile", "cell", "fax", "whatsapp", "电话", "手机", "致电", "联系",
                     "传真", "電話", "手機", "聯絡")

    def __init__(self, supported_language: str, supported_regions, boost: float = 0.35, window: int = 24,
                 margin: int = 3):
        super().__init__(supported_language=supported_language, supported_regions=supported_regions,
                         context=list(self.CONTEXT_WORDS), name="PhoneRecognizer")
        self.boost, self.window, self.margin = boost, window, margin

    @staticmethod
    def embedded(text: str, start: int, end: int) -> bool:
        """A match inside a longer token: an IP address, a card or order number, a UUID, a
        date-like run (letters/digits glued on, or joined by . - / : to more digits)."""
        def alnum(i):
            return 0 <= i < len(text) and text[i].isascii() and text[i].isalnum()

        if alnum(start - 1) or alnum(end) or text[start - 1:start] == "#":
            return True
        if start >= 1 and text[start - 1] in ".-/:_" and alnum(start - 2):
            return True
        if end < len(text) and text[end] in ".-/:_" and alnum(end + 1):
            return True
        return bool(re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", text[start:end]))

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        low = None
        for m in self.CANDIDATE.finditer(text):
            lo, hi = max(0, m.start() - self.margin), min(len(text), m.end() + self.margin)
            for r in super().analyze(text[lo:hi], entities, None):
                r.start, r.end = r.start + lo, r.end + lo
                if self.embedded(text, r.start, r.end):
                    continue
                low = low if low is not None else text.lower()
                if any(w in low[max(0, r.start - self.window):r.start] for w in self.CONTEXT_WORDS):
                    r.score = min(1.0, r.score + self.boost)
                elif text[r.start:r.end].isdigit() and r.end - r.start >= 11:
                    r.score = min(r.score, 0.3)     # a bare 11+ digit run without context: an order/account no.
                results.append(r)
        return results


class ContextIpRecognizer(IpRecognizer):
    """presidio's IP address recognizer with raw-text context words; a dotted quad of single
    digits (manual section 6.3.1.1, version 1.2.0.1) counts only next to a context word."""

    WORDS = ("ip", "host", "server", "address", "addr", "gateway", "dns", "ping", "地址", "服务器", "主机", "网关")
    SECTION_LIKE = re.compile(r"\d\.\d\.\d\.\d")

    def __init__(self, supported_language: str, boost: float = 0.35, window: int = 24):
        super().__init__(supported_language=supported_language, context=list(self.WORDS))
        self.global_regex_flags = PRESIDIO_FLAGS
        self.boost, self.window = boost, window

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts=None, regex_flags=regex_flags)
        low = text.lower()
        for r in results:
            if any(w in low[max(0, r.start - self.window):r.start] for w in self.WORDS):
                r.score = min(1.0, r.score + self.boost)
            elif self.SECTION_LIKE.fullmatch(text, r.start, r.end):
                r.score = 0.2
        return results
