"""A labelled PII set (English and Chinese) and per-type precision/recall of the PII stage.

    python -m corpora.pii_eval make data/pii/labelled.jsonl   # (re)generate the set
    python bench/pii_eval.py                                           # score the stage on it

`make_examples` embeds synthetic but well-formed values (valid checksums, dialable phone
numbers from libphonenumber's metadata, real-world spellings: spaces, dashes, +86, (0xx),
lower-case x, grouped IBANs, IPv6, keys in config lines) in paragraphs of the shipped
multilingual texts, with and without context words, together with look-alikes that must
not be flagged (order and tracking numbers, bad checksums, dates, ISBNs, versions, section
numbers, hashes, UUIDs). Each example: {"id", "lang", "text", "entities": [{"start",
"end", "type"}], "lookalikes": [...]} with types named by their placeholder (email,
phone, id_number, ...). PERSON and LOCATION need an NER model and are not in the set.

`score` matches a predicted span to a gold span of the same type when they overlap; it
reports per type precision, recall, the misses, and the privacy-relevant figure: the share
of gold characters covered by any redaction, whatever its type.
"""
from __future__ import annotations

import json
import random
import string
import sys
from pathlib import Path

TYPES = ("email", "phone", "id_number", "passport", "credit_card", "bank_card", "iban", "ip_address",
         "url_credentials", "secret")


# -- value generators ------------------------------------------------------------------------
def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    from stdnum import luhn

    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def _group(s: str, sizes, sep: str) -> str:
    out, pos = [], 0
    for n in sizes:
        out.append(s[pos:pos + n])
        pos += n
    if pos < len(s):
        out.append(s[pos:])
    return sep.join(p for p in out if p)


def credit_card(rng):
    kind = rng.choice(["visa", "visa", "mc", "amex", "discover"])
    if kind == "amex":
        n = _luhn_complete(rng.choice(["34", "37"]), 15, rng)
        return rng.choice([n, _group(n, (4, 6, 5), " "), _group(n, (4, 6, 5), "-")])
    prefix = {"visa": "4", "mc": rng.choice(["51", "52", "53", "54", "55"]), "discover": "6011"}[kind]
    n = _luhn_complete(prefix, 16, rng)
    return rng.choice([n, _group(n, (4, 4, 4, 4), " "), _group(n, (4, 4, 4, 4), "-")])


def bank_card(rng):   # UnionPay debit cards: 62, 16-19 digits
    n = _luhn_complete("62" + "".join(rng.choice(string.digits) for _ in range(4)), rng.choice([16, 17, 19]), rng)
    return rng.choice([n, n, _group(n, (4, 4, 4, 4), " ")])


def cn_id(rng):
    from corpora.sample import cn_id_check_digit

    area = rng.choice(["110101", "310104", "440305", "510107", "330106", "420111", "320582", "610113", "500103"])
    y, m, d = rng.randrange(1950, 2006), rng.randrange(1, 13), rng.randrange(1, 29)
    first17 = f"{area}{y}{m:02d}{d:02d}{rng.randrange(0, 1000):03d}"
    s = first17 + cn_id_check_digit(first17)
    return s.lower() if s.endswith("X") and rng.random() < 0.3 else s


def bad_cn_id(rng):
    s = cn_id(rng)
    last = s[-1].upper()
    return s[:-1] + rng.choice([c for c in "0123456789" if c != last])


def hk_id(rng):
    from pipelines.pii.recognizers import hk_id_valid

    while True:
        body = rng.choice(string.ascii_uppercase) + "".join(rng.choice(string.digits) for _ in range(6))
        for c in "0123456789A":
            if hk_id_valid(f"{body}({c})"):
                return f"{body}({c})"


def tw_id(rng):
    from pipelines.pii.recognizers import tw_id_valid

    while True:
        s = rng.choice("ABCDEFGHJKLMNPQRSTUVXYWZIO") + rng.choice("12") + "".join(
            rng.choice(string.digits) for _ in range(7))
        for c in string.digits:
            if tw_id_valid(s + c):
                return s + c


def cn_passport(rng):
    if rng.random() < 0.7:
        return rng.choice("EG") + "".join(rng.choice(string.digits) for _ in range(8))
    return "E" + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + "".join(rng.choice(string.digits) for _ in range(7))


def cn_mobile(rng):
    n = "1" + rng.choice("3456789") + "".join(rng.choice(string.digits) for _ in range(9))
    return rng.choice([n, n, f"{n[:3]} {n[3:7]} {n[7:]}", f"{n[:3]}-{n[3:7]}-{n[7:]}", f"+86 {n}",
                       f"+86 {n[:3]} {n[3:7]} {n[7:]}", f"+86-{n}", f"0086 {n}"])


def cn_landline(rng):
    area = rng.choice(["010", "021", "020", "0755", "0571", "028", "027", "025"])
    local = rng.choice("2345678") + "".join(rng.choice(string.digits) for _ in range(7 if len(area) == 3 else 6))
    return rng.choice([f"{area}-{local}", f"({area}){local}", f"{area} {local}", f"{area}{local}"])


def intl_phone(rng):
    import phonenumbers
    from phonenumbers import PhoneNumberFormat as PF

    region = rng.choice(["US", "US", "GB", "DE", "FR", "IN", "JP", "SG", "AU", "CA", "HK"])
    ex = phonenumbers.example_number(region)
    digits = str(ex.national_number)
    while True:
        k = min(5, len(digits) - 3)
        cand = digits[:-k] + "".join(rng.choice(string.digits) for _ in range(k))
        num = phonenumbers.parse("+" + str(ex.country_code) + cand)
        if phonenumbers.is_valid_number(num):
            break
    fmt = rng.choice([PF.INTERNATIONAL, PF.INTERNATIONAL, PF.E164, PF.NATIONAL])
    if fmt == PF.NATIONAL and region not in ("US", "CA", "GB"):
        fmt = PF.INTERNATIONAL
    return phonenumbers.format_number(num, fmt)


def email(rng):
    first = rng.choice(["john", "maria", "li", "wei", "anna", "k", "olivier", "priya", "zhang", "sam", "j"])
    last = rng.choice(["smith", "garcia", "wang", "chen", "mueller", "tanaka", "dubois", "patel", "lee", "o.brien"])
    local = rng.choice([f"{first}.{last}", f"{first}_{last}{rng.randrange(100)}", f"{first}{last}",
                        f"{first[0]}.{last}+news", f"{first}.{last}".upper(), f"{first}{rng.randrange(1960, 2005)}"])
    domain = rng.choice(["gmail.com", "example.co.uk", "mail.univ-paris.fr", "qq.com", "163.com", "corp.example.com",
                         "research.example.org", "outlook.com", "sina.com.cn", "foo-bar.io"])
    return f"{local}@{domain}"


def ip_address(rng):
    kind = rng.random()
    if kind < 0.6:
        return ".".join(str(rng.randrange(1, 255)) for _ in range(4))
    if kind < 0.8:
        return rng.choice(["10.{}.{}.{}", "192.168.{}.{}", "172.16.{}.{}"]).format(
            *(rng.randrange(0, 255) for _ in range(3)))
    groups = [f"{rng.randrange(0, 65536):x}" for _ in range(8)]
    return rng.choice([":".join(groups), "2001:db8::" + groups[0], "fe80::" + ":".join(groups[:3])])


def bad_luhn(prefix: str, length: int, rng: random.Random) -> str:
    s = _luhn_complete(prefix, length, rng)
    return s[:-1] + str((int(s[-1]) + 1) % 10)


def iban(rng):
    specs = {"DE": 18, "GB": None, "FR": 23, "NL": None, "ES": 20, "IT": None}
    country = rng.choice(list(specs))
    if country == "GB":
        bban = "NWBK" + "".join(rng.choice(string.digits) for _ in range(14))
    elif country == "NL":
        bban = "ABNA" + "".join(rng.choice(string.digits) for _ in range(10))
    elif country == "IT":
        bban = rng.choice(string.ascii_uppercase) + "".join(rng.choice(string.digits) for _ in range(22))
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(specs[country]))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    s = f"{country}{check:02d}{bban}"
    return rng.choice([s, " ".join(s[i:i + 4] for i in range(0, len(s), 4))])


def url_credentials(rng):
    user = rng.choice(["admin", "deploy", "root", "svc_etl", "bob"])
    pw = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randrange(8, 16)))
    scheme, host = rng.choice([("https", "git.example.com/org/repo.git"), ("postgres", "db.internal:5432/prod"),
                               ("ftp", "files.example.org/pub"), ("redis", "cache.example.net:6379/0"),
                               ("mongodb", "mongo1.example.com:27017/app")])
    return f"{scheme}://{user}:{pw}@{host}"


def secret(rng):
    al = string.ascii_letters + string.digits
    kind = rng.choice(["aws", "github", "slack", "pem", "assigned"])
    if kind == "aws":
        return "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    if kind == "github":
        return "ghp_" + "".join(rng.choice(al) for _ in range(36))
    if kind == "slack":
        return "xoxb-" + "-".join("".join(rng.choice(string.digits) for _ in range(12)) for _ in range(2)) + "-" + \
            "".join(rng.choice(al) for _ in range(24))
    if kind == "pem":
        return "-----BEGIN " + rng.choice(["RSA ", "EC ", "OPENSSH ", ""]) + "PRIVATE KEY-----"
    return rng.choice(["api_key", "API_KEY", "secret_key", "access_token", "password"]) + rng.choice(
        ["=", ": ", " = "]) + rng.choice(["", "'", '"']) + "".join(
            rng.choice(al + "_-") for _ in range(rng.randrange(16, 40)))


# -- sentences ---------------------------------------------------------------------------------
# (type, generator, templates); {v} is the value. Templates with and without context words.
EN = [
    ("email", email, ["Contact me at {v} for details.", "Email: {v}", "Send your CV to <{v}>.", "(reach us: {v})",
                      "mailto:{v}", "Questions? {v}"]),
    ("phone", intl_phone, ["Call us on {v} during office hours.", "Phone: {v}", "Tel. {v}", "or ring {v} today",
                           "WhatsApp {v}", "Our number is {v}."]),
    ("credit_card", credit_card, ["Card number {v} was charged.", "Paid with {v}, exp 09/27.", "CC: {v}",
                                  "my card {v} got declined"]),
    ("iban", iban, ["Please transfer to IBAN {v}.", "Account: {v}", "Bank details {v} (BIC NWBKGB2L)."]),
    ("ip_address", ip_address, ["Login from IP {v} blocked.", "The server at {v} is down.", "ping {v}",
                                "Failed password for root from {v} port 22 ssh2", "connect to {v}"]),
    ("url_credentials", url_credentials, ["Clone with {v} then build.", "DATABASE_URL={v}", "see {v} for the dump"]),
    ("secret", secret, ["export AWS_ACCESS_KEY_ID={v}", "token: {v}", "{v}", "Found key {v} in the repo."]),
    ("id_number", cn_id, ["Chinese ID number {v} on file."]),
]
ZH = [
    ("id_number", cn_id, ["身份证号：{v}", "身份证号码为{v}，请核对。", "公民身份号码 {v}", "证件号{v}",
                          "持证人 {v} 已登记"]),
    ("phone", cn_mobile, ["手机：{v}", "联系电话{v}", "请致电 {v} 咨询", "微信同号{v}", "电话/微信：{v}。", "热线{v}"]),
    ("phone", cn_landline, ["座机：{v}", "联系电话：{v}", "传真 {v}", "办公室电话{v}"]),
    ("email", email, ["邮箱：{v}", "请发送简历至{v}，谢谢。", "电子邮件 {v}", "联系邮箱{v}。"]),
    ("bank_card", bank_card, ["银行卡号：{v}", "收款账号{v}", "请汇款至储蓄卡 {v}。", "卡号 {v}"]),
    ("credit_card", credit_card, ["信用卡号 {v}", "用卡 {v} 支付"]),
    ("passport", cn_passport, ["护照号码：{v}", "护照号{v}，有效期至2030年。"]),
    ("id_number", hk_id, ["香港身份证号码 {v}", "香港身份证：{v}"]),
    ("id_number", tw_id, ["身分證字號 {v}", "台湾身份证 {v}"]),
    ("ip_address", ip_address, ["服务器地址 {v}", "IP：{v}", "来自 IP {v} 的访问"]),
    ("phone", intl_phone, ["海外联系电话 {v}", "美国办公室 {v}"]),
    ("secret", secret, ["密钥：{v}", "配置 {v}"]),
]
LOOKALIKES_EN = [
    lambda r: (f"Order #{r.randrange(10**11, 10**12)} shipped on 2024-03-{r.randrange(10, 29)} "
               f"14:{r.randrange(10, 60)}."),
    lambda r: f"ISBN 978-{r.randrange(0, 10)}-{r.randrange(100, 999)}-{r.randrange(10000, 99999)}-{r.randrange(0, 10)}",
    lambda r: f"version {r.randrange(1, 5)}.{r.randrange(0, 20)}.{r.randrange(0, 50)} released",
    lambda r: f"see section {'.'.join(str(r.randrange(1, 9)) for _ in range(4))} of the manual",
    lambda r: f"commit {''.join(r.choice('0123456789abcdef') for _ in range(40))}",
    lambda r: f"tracking {r.choice(['1Z', 'JD'])}{r.randrange(10**15, 10**16)}",
    lambda r: f"uuid {'-'.join(''.join(r.choice('0123456789abcdef') for _ in range(n)) for n in (8, 4, 4, 4, 12))}",
    lambda r: f"invoice total ${r.randrange(1000, 99999)}.{r.randrange(10, 99)} due 12/31/2025",
    lambda r: f"population {r.randrange(1, 9)},{r.randrange(100, 999)},{r.randrange(100, 999)} in 2020",
    lambda r: f"card ending {r.randrange(1000, 9999)} (last four digits only)",
]
LOOKALIKES_ZH = [
    lambda r: f"订单号 {bad_cn_id(r)} 已发货",
    lambda r: f"流水号 2023{r.randrange(10**12, 10**13)}",
    lambda r: f"快递单号 SF{r.randrange(10**11, 10**12)}",
    lambda r: f"商品编号 E{r.randrange(10**7, 10**8)}X",
    lambda r: f"发布于 2024年{r.randrange(1, 13)}月{r.randrange(1, 29)}日 {r.randrange(10, 24)}:{r.randrange(10, 60)}",
    lambda r: f"价格 ¥{r.randrange(100, 99999)}.00，销量 {r.randrange(1000, 99999)} 件",
    lambda r: f"单号 {bad_luhn('62', 19, r)} 已签收",
    lambda r: f"Order {bad_luhn('4', 16, r)} refunded",
    lambda r: f"第 {r.randrange(1, 9)}.{r.randrange(1, 9)}.{r.randrange(1, 9)} 节",
    lambda r: f"QQ群 {r.randrange(10**8, 10**9)}",
    lambda r: f"邮编 {r.randrange(100000, 999999)}",
]


def make_examples(n_docs: int = 500, seed: int = 7) -> list[dict]:
    """Documents of 1-3 filler paragraphs with 1-4 entities and 0-2 look-alikes each."""
    from corpora.sample import load_texts

    texts = load_texts()
    rng = random.Random(seed)
    out = []
    for i in range(n_docs):
        lang = "zh" if i % 2 else "en"
        paras, table, looks = texts[lang], ZH if lang == "zh" else EN, LOOKALIKES_ZH if lang == "zh" else LOOKALIKES_EN
        pieces: list[tuple[str, str | None]] = [(p, None) for p in rng.sample(paras, rng.randint(1, 3))]
        for _ in range(rng.randint(1, 4)):
            typ, gen, templates = rng.choice(table)
            pieces.insert(rng.randrange(len(pieces) + 1), (rng.choice(templates), (typ, gen(rng))))
        for _ in range(rng.randint(0, 2)):
            pieces.insert(rng.randrange(len(pieces) + 1), (rng.choice(looks)(rng), "lookalike"))
        text, ents, lookalikes = "", [], []
        seps = ["", "，", "。", "\n", " "] if lang == "zh" else [" ", " ", "\n"]
        for k, (piece, val) in enumerate(pieces):
            if k:
                sep = rng.choice(seps)
                if sep == "" and piece[:1].isascii() and piece[:1].isalnum():
                    sep = " "       # Chinese runs straight into a number, but not into a Latin word
                text += sep
            if isinstance(val, tuple):
                typ, v = val
                before, after = piece.split("{v}")
                text += before
                ents.append({"start": len(text), "end": len(text) + len(v), "type": typ})
                text += v + after
            else:
                if val == "lookalike":
                    lookalikes.append({"start": len(text), "end": len(text) + len(piece)})
                text += piece
        out.append({"id": f"pii-{i:04d}", "lang": lang, "text": text, "entities": ents, "lookalikes": lookalikes})
    return out


# -- scoring ---------------------------------------------------------------------------------
def predict(examples: list[dict], cfg: dict) -> list[list[dict]]:
    """The stage's own path (detect_fn: analyzer, thresholds, overlaps) on each example's text:
    predicted spans [{"start", "end", "type" (placeholder name), "entity"}]."""
    import pyarrow as pa

    from pipelines.pii.redact import policy_from_config
    from pipelines.pii.stage import detect_fn

    p = cfg.get("pii", {})
    policy = policy_from_config(cfg)
    fn = detect_fn(tuple(p.get("languages", ("en", "zh"))), p.get("spacy_model"), policy, b"eval")
    batch = pa.RecordBatch.from_pydict({"doc_id": [e["id"] for e in examples], "lang": [e["lang"] for e in examples],
                                        "text": [e["text"] for e in examples]})
    preds = []
    for out in fn([batch]):
        for groups in out.column("pii_audit").to_pylist():
            preds.append([{"start": s, "end": e, "type": g["placeholder"], "entity": g["entity_type"]}
                          for g in groups for s, e in zip(g["starts"], g["ends"])])
    return preds


def score(examples: list[dict], preds: list[list[dict]]) -> dict:
    per = {t: {"gold": 0, "found": 0, "predicted": 0, "correct": 0, "misses": [], "false_positives": []}
           for t in TYPES}
    gold_chars = covered_chars = 0
    by_lang: dict[tuple[str, str], list[int]] = {}            # (type, lang) -> [gold, found]
    for ex, pr in zip(examples, preds):
        text = ex["text"]
        for g in ex["entities"]:
            st = per[g["type"]]
            st["gold"] += 1
            lang_st = by_lang.setdefault((g["type"], ex["lang"]), [0, 0])
            lang_st[0] += 1
            if any(p["type"] == g["type"] and p["start"] < g["end"] and g["start"] < p["end"] for p in pr):
                st["found"] += 1
                lang_st[1] += 1
            else:
                got = [p["type"] for p in pr if p["start"] < g["end"] and g["start"] < p["end"]]
                st["misses"].append(f"{ex['id']}: {text[max(0, g['start'] - 12):g['end'] + 4]!r}"
                                    + (f" (found as {got})" if got else ""))
            chars = set(range(g["start"], g["end"]))
            gold_chars += len(chars)
            for p in pr:
                chars -= set(range(p["start"], p["end"]))
            covered_chars += g["end"] - g["start"] - len(chars)
        for p in pr:
            if p["type"] not in per:
                continue
            st = per[p["type"]]
            st["predicted"] += 1
            if any(g["type"] == p["type"] and p["start"] < g["end"] and g["start"] < p["end"] for g in ex["entities"]):
                st["correct"] += 1
            else:
                around = text[max(0, p["start"] - 12):p["end"] + 4]
                st["false_positives"].append(f"{ex['id']}: {p['entity']} {around!r}")
    total = {k: sum(per[t][k] for t in TYPES) for k in ("gold", "found", "predicted", "correct")}
    report = {"types": {}, "entities": total["gold"], "documents": len(examples)}
    for t in TYPES:
        st = per[t]
        report["types"][t] = {"gold": st["gold"], "recall": st["found"] / st["gold"] if st["gold"] else None,
                              "precision": st["correct"] / st["predicted"] if st["predicted"] else None,
                              "misses": st["misses"], "false_positives": st["false_positives"]}
    report["recall_by_lang"] = {
        lang: sum(v[1] for (t, la), v in by_lang.items() if la == lang)
        / sum(v[0] for (t, la), v in by_lang.items() if la == lang) for lang in sorted({la for _, la in by_lang})}
    report["recall_by_type_lang"] = {f"{t}/{la}": {"gold": v[0], "recall": v[1] / v[0]}
                                     for (t, la), v in sorted(by_lang.items())}
    report["recall"] = total["found"] / total["gold"] if total["gold"] else 0.0
    report["precision"] = total["correct"] / total["predicted"] if total["predicted"] else 0.0
    report["char_coverage"] = covered_chars / gold_chars if gold_chars else 0.0
    return report


def load(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "make":
        print("usage: python -m corpora.pii_eval make OUT.jsonl", file=sys.stderr)
        return 2
    ex = make_examples()
    Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
    Path(argv[1]).write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ex), encoding="utf-8")
    print(f"{len(ex)} documents, {sum(len(e['entities']) for e in ex)} entities, "
          f"{sum(len(e['lookalikes']) for e in ex)} look-alikes -> {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
