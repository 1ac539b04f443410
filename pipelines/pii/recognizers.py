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

import math
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
        ok = self.validator(pattern_text)
        return None if ok is None else bool(ok)     # None: no verdict, the pattern's score stands

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts=None, regex_flags=regex_flags)
        low = text.lower()
        for r in results:
            before = low[max(0, r.start - self.window):r.start]
            if any(w in before for w in self.words):
                r.score = min(1.0, r.score + self.boost)
        return results


_PLACEHOLDER = re.compile(r"^(?:<[^>]*>?|\$\{?\w+\}?|\{\{.*|%\w|\[.*\]?|\*+|x+|\.+|-+|_+|"
                          r"(?:your|my|the|new|old|some)[-_ ]?\w*|password|passwd|secret|changeme|example\w*)$",
                          re.I)


def secret_plausible(match: str) -> bool | None:
    """False for a match whose value cannot be a secret: a masked one (AKIAXXXX..., ****), a
    placeholder (<password>, ${TOKEN}, your_password), a path or an /etc/passwd field list, a
    date or number under 16 characters, a word in any script, a snake_case or hyphenated name,
    code (getpass.getpass()), or a single character class under 16 characters. None (no
    verdict: the pattern's score stands) otherwise, and for matches without an assignment
    (AKIA..., ghp_..., `mysql -pX`) unless their last word is a path."""
    if match.startswith("-----") or "://" in match:
        return None
    m = re.search(r"=>|[:=：]", match)
    if re.search(r"[Xx]{8,}|\*{4,}", match):
        return False                # masked: AKIAXXXXXXXXXXXXXXXX, sk-****
    if not m:                       # a vendor format, or `passwd /path` / `passphrase X` by whitespace
        return False if match.split()[-1].startswith(("/", "~/", "./")) else None
    value = match[m.end():].strip().strip("'\"")
    if len(value) < 16 and not re.search(r"[^\W\d_]", value):
        return False                # a date, count or version number, not a password
    if (value.isalpha() and len(value) < 16) or re.fullmatch(r"[a-z]+(?:_[a-z]+)+|[^\W\d_]+(?:-[^\W\d_]+)+", value):
        return False                # a word in any script, snake_case or hyphenated words (mot_de_passe)
    if re.search(r"[A-Za-z_]\w*\(", value):
        return False                # code: password = getpass.getpass()
    if not value or _PLACEHOLDER.match(value) or len(set(value)) <= 2 or value.startswith(("/", "~/", "./")):
        return False
    if re.match(r"[^:\s]*:\d+:\d+:", value) or re.fullmatch(r"x:\d+:\d+:.*", value):
        return False
    classes = sum(bool(re.search(rx, value)) for rx in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return None if classes >= 2 or len(value) >= 16 else False


# key names whose value is a secret whatever it looks like (secret_plausible still refuses
# placeholders): passwords in a few languages, tokens, API/access/client keys and secrets
SECRET_WORDS = (r"api[_ -]?(?:key|token)|secret(?:[_ -]?(?:access[_ -]?)?key)?|access[_ -]?(?:token|key)"
                r"|auth[_-]?token|token|client[_-]?secret|private[_ -]?key(?:[_ -]?id)?|credentials?"
                r"|password|passwd|passphrase|(?<=_)pass|pwd|passwort|contrase[nñ]a|mot de passe|senha")
# a key id or fingerprint after these is public: "gpg: using RSA key 647F...", "host key ..."
PUBLIC_KEY_WORDS = r"rsa|dsa|ecdsa|ed25519|gpg|pgp|gnupg|openpgp|public|signing|host|ssh|archive|release"
_KEYED = re.compile(r"(?i)^(?:key|pat|hmac)['\"]?(?:[ \t]*(?:=>|[:=：])[ \t]*|[ \t]+)['\"]?")


def random_value(match: str) -> bool:
    """True when the value after a weak key word looks machine-made: 16+ characters, 4+
    letters, and either 4+ digits and >= 3.3 bits of entropy per character (a 32-digit hex key
    ~3.8) or 2+ digits and >= 3.5 (base64 of text has few digits, ~4.5 bits); words and
    snake_case names fall under it. GPG key ids (16 hex digits) and fingerprints written in
    groups do not pass."""
    m = _KEYED.match(match)
    value = match[m.end():] if m else match
    if len(value) < 16 or sum(c.isdigit() for c in value) < 2 or sum(c.isalpha() for c in value) < 4:
        return False
    if re.fullmatch(r"[0-9A-Fa-f]+", value) and len(value) < 32:
        return False
    counts = {c: value.count(c) for c in set(value)}
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= (3.3 if sum(c.isdigit() for c in value) >= 4 else 3.5)


NEAR_WORDS = (r"password|passwd|passphrase|pass|pwd|pw|secret|token|credentials?|login|passwort|contrase[nñ]a"
              r"|mot de passe|senha|пароль|密码|口令|令牌|授权码|密钥|秘钥|パスワード")
_NOT_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://.*|[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[/~.].*"
                           r"|.*[(\[{<>'\"].*|[A-Za-z_]\w*=.*"                  # code: calls, quotes, kwargs
                           r"|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?|[0-9A-Fa-f]*(?::[0-9A-Fa-f]*){2,}(?:%\w+)?"   # IPs
                           r"|v?\d+(?:[.:-]\d+)*(?:[-+~.][\w.+~-]*)?"                   # versions, dates, times
                           r"|[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+"        # dotted names
                           r"|[A-Za-z]+(?:-[A-Za-z0-9]+)+")                   # Ctrl-Alt-F3


def strong_password(match: str) -> bool:
    """password_like, and none of / \\ , = | or quotes, URL-encoding, a leading - + or @, an
    amount, nor an issue number."""
    value = match.strip("'\"")
    if re.search(r"[/\\,='\"|]|%[0-9A-Fa-f]{2}", value) or re.fullmatch(r"[-+@].*|\d+[$€£¥].*", value):
        return False                # paths, CSV, options, URL-encoding, decorators, amounts (20$-Note)
    if re.fullmatch(r"(?i)(?:bug|issue|ticket|closes|fixes|pr|gh)?#\d+\w*|\w*#\d+bug", value):
        return False                # Bug#98339, #411123Bug
    return password_like(value)


def password_like(match: str) -> bool:
    """True for a token that reads as a password or key: 8+ characters with upper and lower case
    and a digit, or two of those and a symbol other than -_.:/ (so postgres:16, x86_64-linux
    and utf-8 are not), or random_value's machine-made look; never a URL, e-mail, path, IP,
    version, date, code, dotted or hyphenated name, nor a placeholder."""
    value = match.strip("'\"")
    if len(value) < 8 or _NOT_PASSWORD.fullmatch(value) or _PLACEHOLDER.match(value):
        return False
    kinds = sum(bool(re.search(rx, value)) for rx in (r"[a-z]", r"[A-Z]", r"\d"))
    return kinds == 3 or (kinds == 2 and bool(re.search(r"[^\w\-.:/]", value))) or random_value(value)


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
    ("CN_PASSPORT", [("cn_passport", r"(?<![0-9A-Za-z])(?:[CEGDSP]\d{8}|E[A-HJ-NP-Z]\d{7})(?![0-9A-Za-z])", 0.2)],
     ["护照", "通行证", "passport"], None),
    ("HK_ID", [("hk_id", r"(?<![0-9A-Za-z])[A-Z]{1,2}\d{6}\([0-9A]\)", 0.5)],
     ["香港身份证", "身份证", "hkid", "hong kong identity"], hk_id_valid),
    ("TW_ID", [("tw_id", r"(?<![0-9A-Za-z])[A-Z][12]\d{8}(?![0-9A-Za-z])", 0.5)],
     ["身分證", "身份证", "统一编号", "national id"], tw_id_valid),
    # presidio's credit card pattern predates Mastercard's 2221-2720 range
    ("CREDIT_CARD", [("mastercard_2_series",
                      r"(?<!\d)2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)(?:[- ]?\d{4}){3}(?!\d)", 0.5)],
     ["card", "卡"], luhn_valid),
    ("EMAIL", [("email", r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}"
                         r"(?![A-Za-z0-9-])", 0.85),
               # obfuscated against scrapers: name [at] host [dot] com, name（at）host.com
               ("email_obfuscated",
                r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*+ ?(?i:\[at\]|\(at\)|（at）|\{at\}|<at>)"
                r" ?(?:[A-Za-z0-9-]+ ?(?i:\.|\[dot\]|\(dot\)|（dot）) ?)+[A-Za-z]{2,24}(?![A-Za-z0-9-])", 0.6)],
     ["邮箱", "电邮", "email", "e-mail", "mail"], None),
    ("URL_CREDENTIALS", [("url_creds", r"\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]*:[^\s:/@]+@[^\s/]+", 0.9)], [], None),
    ("SECRET", [("aws_key", r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])", 0.9),
                ("private_key", r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY(?: BLOCK)?-----", 0.95),
                ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36}\b", 0.9),
                ("github_fine_grained", r"\bgithub_pat_[A-Za-z0-9_]{60,}", 0.9),
                ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0.8),
                ("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", 0.9),
                ("openai_like_key", r"(?<![A-Za-z0-9])sk[-_](?:proj-|live_|test_)?[A-Za-z0-9_-]{20,}", 0.85),
                # vendors' token formats, after gitleaks' rules
                ("vendor_token", r"(?<![A-Za-z0-9])(?:npm_[A-Za-z0-9]{36}"
                                 r"|gl(?:pat|rt|ptt|dt|cbt|ft|oas)-[A-Za-z0-9_-]{20,}"
                                 r"|hv[sbr]\.[A-Za-z0-9_-]{24,}"
                                 r"|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"
                                 r"|lin_api_[A-Za-z0-9]{40}"
                                 r"|[rs]k_(?:live|test|prod)_[A-Za-z0-9]{10,99}|SG\.[\w-]{16,32}\.[\w-]{16,64}|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z]{34}"
                                 r"|LTAI[A-Za-z0-9]{12,20}|AKID[A-Za-z0-9]{32}|dckr_pat_[A-Za-z0-9_-]{27}"
                                 r"|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})", 0.9),
                # Telegram bot and Discord tokens (patterns of their own: in the alternation above,
                # their leading character classes slowed every position)
                ("telegram_token", r"(?<![A-Za-z0-9])\d{8,10}:AA[0-9A-Za-z_-]{33}", 0.9),
                ("discord_token", r"(?<![A-Za-z0-9])[MN][A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}", 0.9),
                # KEY = value lines, matched from the key word (the SECRET_ACCESS_KEY of AWS_SECRET_ACCESS_KEY);
                # `password "value"`, `password is value`, `API token value` where the value holds a digit;
                # a value of 8-15 lower-case letters is a word
                ("assigned_secret", r"(?i)(?:" + SECRET_WORDS + r")"
                                    r"(?:['\"]?[ \t]*(?:=>|[:=：]|是|为)[ \t]*['\"]?|[ \t]+(?=['\"])"
                                    r"|[ \t]+(?:is[ \t]+|was[ \t]+)?(?=[^\s'\"]*\d))['\"]?"
                                    r"(?-i:(?![a-z]{8,15}(?![^\s'\"])))[^\s'\"]{8,}", 0.7),
                ("assigned_secret_zh", r"(?:密码|密钥|秘钥|口令|令牌|授权码|访问密钥)\s*(?:是|为)?\s*[:：=]?\s*"
                                       r"(?=[^\s，。；、]*[A-Za-z0-9])[!-~]{6,}", 0.7),
                # credentials on a command line: mysql -pPASS, sshpass -p PASS, openssl -k PASS, --password=PASS
                ("cli_secret", r"(?:\b(?:mysql|mysqladmin|mysqldump|mariadb)\b[^\n]*?\s-p(?=\S)|\bsshpass\s+-p\s*"
                               r"|\bopenssl\b[^\n]*?\s-(?:k|pass\s+pass:)\s*|\bredis-cli\b[^\n]*?\s-a\s+"
                               r"|\bcurl\b[^\n]*?\s(?:-u|--user)\s+[^\s:]+:"
                               r"|(?<=\s)--(?:password|passwd|pass|token|api-key|secret)[= ])['\"]?[^\s'\"]{6,}", 0.7),
                ("pgpass_line", r"(?m)^[\w.*-]+:(?:\d+|\*):[^:\s]+:[^:\s]+:\K\S{6,}$", 0.7),   # ~/.pgpass
                ("http_auth", r"(?i)\bauthorization\s*[:=]\s*['\"]?(?:basic|bearer|token|digest)"
                              r"\s+[A-Za-z0-9+/=._~-]{8,}"
                              r"|\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*", 0.8)],
     ["key", "token", "secret", "密钥", "密码"], secret_plausible),
    # a password-like token shortly after a credential word on the same line: "密码设置为 X",
    # "login is admin / X", "token 是 X", "redis-cli -a X ... password"
    # (the word first and \K before the token: a variable-width lookbehind ran at 0.5 MB/s)
    # (the word is matched first and its boundary checked after: the boundary tried at every
    # position ran at 7 MB/s, this at 23)
    ("SECRET", [("near_credential", r"(?i:" + NEAR_WORDS + r")(?<=(?:(?<![A-Za-z])|(?<=[a-z])(?=[A-Z]))(?i:"
                                    + NEAR_WORDS + r"))(?![a-z])[^\n]{0,32}?(?<![!-~])"
                                    r"\K(?=[!-~]*?\d)[!-~]{7,63}?[A-Za-z0-9#$%&*+/=@^_~!-](?=[.,;:?)\]}'\"]*(?:[^!-~]|$))",
                 0.6)],
     [], password_like),
    # a token that only a password looks like, wherever it stands: 8-32 characters with upper and
    # lower case, a digit and one of !#$%&@^~? (Sunflower#2025, Ht!Adm1n2025); in 14.6 MB of Debian
    # documentation ~100 tokens have that shape, none a password, all refused by strong_password
    ("SECRET", [("strong_password", r"(?<![!-~])(?=[!-~]{0,31}?[A-Z])(?=[!-~]{0,31}?[a-z])(?=[!-~]{0,31}?\d)"
                                    r"(?=[!-~]{0,31}?[!#$%&@^~?])[!-~]{7,31}?[A-Za-z0-9#$%&*@^~?+!-]"
                                    r"(?=[.,;:?)\]}'\"]*(?:[^!-~]|$))", 0.5)],
     [], strong_password),
    # a random-looking value after a weaker key word (AccountKey=..., shared key ..., PAT: ...);
    # starting at the key word: a lazy [A-Za-z0-9_]*? prefix tried at every position ran at 7 MB/s
    ("SECRET", [("keyed_random", r"(?i)(?:key|pat|hmac|(?<![A-Za-z])[as]k(?![A-Za-z]))"
                                 r"(?<!(?:" + PUBLIC_KEY_WORDS + r")[ \t]+[A-Za-z0-9_]*(?:key|pat|hmac))"
                                 r"['\"]?(?:[ \t]*(?:=>|[:=：])[ \t]*|[ \t]+)"
                                 r"['\"]?[A-Za-z0-9+/_.~-]{16,}={0,2}", 0.6)],
     [], random_value),
]


def custom_recognizers(language: str) -> list[PatternRecognizer]:
    return [ContextRecognizer(entity, [Pattern(n, rx, sc) for n, rx, sc in pats], ctx, language, validator)
            for entity, pats, ctx, validator in SPECS]


# Dates and version numbers that libphonenumber would call phone numbers: 08.05.2023,
# 2023-05-08 10:30, 20230508, 3.11.2-6, v12.4.0.1
DATE_LIKE = re.compile(r"(?:(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
                       r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)?\d{2}"
                       r"|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
VERSION_LIKE = re.compile(r"v?\d{1,4}(?:\.\d{1,4}){2,}(?:[-+~][\w.+~-]*)?")
VERSION_WORDS = ("version", "release", "build", "patch", "kernel", "v.", "版本")
SECTION_WORDS = VERSION_WORDS + ("chapter", "section", "§")
NANP = re.compile(r"\d{3}[-.]\d{3}[-.]\d{4}")                # 650.555.0123 is a phone, not a version
# A phone-shaped number: optional +, groups of digits with one separator between groups
PHONE_SHAPED = re.compile(r"(?<![\w+.])(?:\+|00)?\(?\d{1,5}\)?(?:(?: ?[-./] ?| )?\(?\d{1,5}\)?){1,6}(?![\w])")
# Formats of the major countries, redacted without a context word (libphonenumber's
# validity aside): +CC ..., (0xx) ..., NANP 415-555-0134 / (415) 555-0134, France 01 23 45 67 89,
# Japan/Korea 090-1234-5678
PHONE_FORMATS = re.compile(
    r"\+[1-9]\d{0,2}[ .-]?(?:\(0?\d{1,4}\)[ .-]?)?\d{1,5}(?:[ .-]\d{1,5}){1,4}"
    r"|\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}[-.]\d{3}[-.]\d{4}"
    r"|0[1-9](?:[ .]\d{2}){4}"
    r"|0\d{1,3}-\d{3,4}-\d{4}"
    r"|\(0?\d{1,4}\) ?\d{3,5}[- ]\d{3,4}")


class WindowedPhoneRecognizer(PhoneRecognizer):
    """presidio's libphonenumber recognizer, run only on the windows that can hold a number,
    plus the phone-shaped numbers libphonenumber calls invalid where a person would still
    read a phone number: after a context word (Phone, Tel, 电话, 手机 ...) or in the format of
    a major country (PHONE_FORMATS). For PII, recall outranks precision: the cost is that a
    part or order number written like a phone number is redacted too.

    presidio's PhoneRecognizer runs `PhoneNumberMatcher` over the whole text once per region
    (87% of the engine's time on 2 KB web pages). A phone number has at least 7 digits, so
    the matcher runs on each run of >= 7 digits (with separators) plus a margin, and the
    results are shifted back. Context words within `window` characters before a number raise
    its score. Dates and version numbers are not phone numbers unless a context word says so.
    """

    CANDIDATE = re.compile(r"\+?\(?\d(?:[\d \t().\-/]{0,3}\d){6,}")
    CONTEXT_WORDS = ("phone", "tel", "call", "mobile", "cell", "fax", "whatsapp", "hotline", "téléphone",
                     "telefon", "teléfono", "telefone", "telefono", "portable", "handy", "contact", "kontakt",
                     "☎", "电话", "手机", "致电", "拨打", "联系", "传真", "電話", "手機", "聯絡", "热线", "携帯",
                     "전화")
    SHAPED_SCORE, FORMAT_SCORE = 0.6, 0.5

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

    @staticmethod
    def not_a_phone(number: str, before: str) -> bool:
        """A date, a time stamp or a version number (`before`: the lower-cased text before it)."""
        if NANP.fullmatch(number):
            return False
        return bool(DATE_LIKE.fullmatch(number) or VERSION_LIKE.fullmatch(number)
                    or any(w in before[-12:] for w in VERSION_WORDS))

    def _result(self, start: int, end: int, score: float):
        from presidio_analyzer import RecognizerResult
        return RecognizerResult("PHONE_NUMBER", start, end, score,
                                recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                      RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        low = text.lower()

        def context(start: int) -> bool:
            return any(w in low[max(0, start - self.window):start] for w in self.CONTEXT_WORDS)

        def labelled(start: int) -> bool:
            """A context word right before the number: no other digits in between."""
            before = low[max(0, start - self.window):start]
            ends = [before.rfind(w) + len(w) for w in self.CONTEXT_WORDS if w in before]
            return bool(ends) and not any(c.isdigit() for c in before[max(ends):])

        for m in self.CANDIDATE.finditer(text):
            lo, hi = max(0, m.start() - self.margin), min(len(text), m.end() + self.margin)
            for r in super().analyze(text[lo:hi], entities, None):
                r.start, r.end = r.start + lo, r.end + lo
                if self.embedded(text, r.start, r.end):
                    continue
                if context(r.start):
                    r.score = min(1.0, r.score + self.boost)
                elif self.not_a_phone(text[r.start:r.end], low[max(0, r.start - 24):r.start]):
                    continue
                elif text[r.start:r.end].isdigit() and r.end - r.start >= 11:
                    r.score = min(r.score, 0.3)     # a bare 11+ digit run without context: an order/account no.
                results.append(r)
        taken = [(r.start, r.end) for r in results]
        for m in PHONE_SHAPED.finditer(text):
            start, end = m.span()
            number = m.group()
            digits = sum(c.isdigit() for c in number)
            if not 7 <= digits <= 15 or any(a < end and start < b for a, b in taken):
                continue
            if labelled(start):
                score = self.SHAPED_SCORE
            elif PHONE_FORMATS.fullmatch(number) and not self.not_a_phone(number, low[max(0, start - 24):start]):
                score = self.FORMAT_SCORE
            else:
                continue
            if not self.embedded(text, start, end) or low[max(0, start - 4):start] == "tel:":
                results.append(self._result(start, end, score))
                taken.append((start, end))
        return results


class ContextIpRecognizer(IpRecognizer):
    """presidio's IP address recognizer with raw-text context words; a dotted quad of single
    digits (manual section 6.3.1.1, version 1.2.0.1) counts only next to a context word."""

    WORDS = ("ip", "host", "server", "address", "addr", "gateway", "dns", "ping", "地址", "服务器", "主机", "网关")
    SECTION_LIKE = re.compile(r"\d\.\d\.\d\.\d")
    NETMASK = re.compile(r"255\.\d{1,3}\.\d{1,3}\.\d{1,3}|0\.0\.0\.0")

    def __init__(self, supported_language: str, boost: float = 0.35, window: int = 24):
        super().__init__(supported_language=supported_language, context=list(self.WORDS))
        self.global_regex_flags = PRESIDIO_FLAGS
        self.boost, self.window = boost, window

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts=None, regex_flags=regex_flags)
        low = text.lower()
        for r in results:
            if self.NETMASK.fullmatch(text, r.start, r.end):
                r.score = 0.2               # a netmask or the unspecified address: no one's
            elif any(w in low[max(0, r.start - self.window):r.start] for w in self.WORDS):
                r.score = min(1.0, r.score + self.boost)
            elif self.SECTION_LIKE.fullmatch(text, r.start, r.end) or any(
                    w in low[max(0, r.start - 12):r.start] for w in SECTION_WORDS):
                r.score = 0.2               # a section or version number
        return results
