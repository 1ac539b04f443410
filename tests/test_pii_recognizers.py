"""PII recognizers: true cases caught, look-alikes passed, in English and Chinese text."""
from __future__ import annotations

import pytest

from corpora.sample import cn_id_check_digit
from pipelines.pii.analyzer import build_analyzer
from pipelines.pii.recognizers import cn_id_valid, hk_id_valid, luhn_valid, tw_id_valid


@pytest.fixture(scope="module")
def engine():
    return build_analyzer()


def found(engine, text, lang, min_score=0.5):
    return {(r.entity_type, text[r.start:r.end]) for r in engine.analyze(text, language=lang) if r.score >= min_score}


def test_validators():
    good = "11010519491231002X"
    assert cn_id_valid(good) and cn_id_valid(good.lower())
    body = "44030419900307123"
    assert cn_id_valid(body + cn_id_check_digit(body))
    wrong = "0" if cn_id_check_digit(body) != "0" else "1"
    assert not cn_id_valid(body + wrong)                       # bad checksum
    bad_date = "44030419901307123"
    assert not cn_id_valid(bad_date + cn_id_check_digit(bad_date))   # month 13
    future = "44030430010101123"
    assert not cn_id_valid(future + cn_id_check_digit(future))       # born in 3001
    assert luhn_valid("4111 1111 1111 1111") and not luhn_valid("4111 1111 1111 1112")
    assert luhn_valid("6222021234567890128") and not luhn_valid("6222021234567890123")
    assert hk_id_valid("A123456(3)") and not hk_id_valid("A123456(4)")
    assert tw_id_valid("A123456789") and not tw_id_valid("A123456788")


def test_chinese_identifiers_and_look_alikes(engine):
    text = ("客户张三，身份证号码：11010519491231002X，手机：138 1234 5678，座机电话 010-62345678，"
            "邮箱zhangsan@example.com谢谢。银行卡号 6222021234567890128，护照号 E12345678，香港身份证 A123456(3)。")
    hits = found(engine, text, "zh")
    assert ("CN_RESIDENT_ID", "11010519491231002X") in hits
    assert ("CN_MOBILE", "138 1234 5678") in hits
    assert ("CN_LANDLINE", "010-62345678") in hits
    assert ("EMAIL", "zhangsan@example.com") in hits          # bounded: no Chinese characters swallowed
    assert ("BANK_CARD", "6222021234567890128") in hits
    assert ("CN_PASSPORT", "E12345678") in hits                # context word 护照 lifts the score
    assert ("HK_ID", "A123456(3)") in hits
    look_alikes = ("订单号 440304199003071230 已发货（校验位错误的18位数字），流水号 20231107123456789，"
                   "快递单号 13812345679000，商品编号 E12345678X，金额 6222021234567890123 元。")
    assert not {e for e, _ in found(engine, look_alikes, "zh")} & {
        "CN_RESIDENT_ID", "CN_MOBILE", "BANK_CARD", "CN_PASSPORT"}
    # a passport-shaped code without context stays below the default threshold
    assert ("CN_PASSPORT", "E12345678") not in found(engine, "型号 E12345678 的参数", "zh")


def test_english_entities_and_look_alikes(engine):
    text = ("Reach John at +1 (415) 555-2671 or john.doe@corp.io. Card 4111 1111 1111 1111, "
            "IBAN DE89370400440532013000, host 192.168.1.20, AWS key AKIAIOSFODNN7EXAMPLE, "
            "db https://bob:s3cretpass@db.example.com/x, token ghp_" + "a" * 36 + ".")
    hits = found(engine, text, "en", 0.4)
    for entity, value in [("EMAIL", "john.doe@corp.io"), ("CREDIT_CARD", "4111 1111 1111 1111"),
                          ("IBAN_CODE", "DE89370400440532013000"), ("IP_ADDRESS", "192.168.1.20"),
                          ("SECRET", "AKIAIOSFODNN7EXAMPLE"), ("SECRET", "ghp_" + "a" * 36),
                          ("URL_CREDENTIALS", "https://bob:s3cretpass@db.example.com"),
                          ("PHONE_NUMBER", "+1 (415) 555-2671")]:
        assert (entity, value) in hits, (entity, value)
    private = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----"
    assert ("SECRET", "-----BEGIN RSA PRIVATE KEY-----") in found(engine, private, "en")
    look_alikes = ("Order 4111 1111 1111 1112 shipped; invoice IBAN-like DE89370400440532013001; "
                   "version 1.2.3.4.5; see https://example.com/a:b@c? no; ISBN 978-3-16-148410-0.")
    assert not {e for e, _ in found(engine, look_alikes, "en")} & {"CREDIT_CARD", "BANK_CARD", "IBAN_CODE",
                                                                     "URL_CREDENTIALS", "SECRET"}


def test_boundaries_at_chinese_text_and_real_world_spellings(engine):
    key = "ghp_" + "b" * 36
    text = (f"IP：10.26.165.184快递已发出，密钥：{key}无论如何，身份证：110105 19491231 002X，"
            "邮箱：zhang.wei（at）example.com，OPENAI_API_KEY=sk-proj-4fT9xQ2LmZ8vK1pR7sW3yB6nC0dE5gH")
    hits = found(engine, text, "zh")
    for entity, value in [("IP_ADDRESS", "10.26.165.184"), ("SECRET", key), ("CN_RESIDENT_ID", "110105 19491231 002X"),
                          ("EMAIL", "zhang.wei（at）example.com")]:
        assert (entity, value) in hits, (entity, value)
    assert any(e == "SECRET" and "sk-proj-4fT9" in v for e, v in hits)
    # look-alikes: a manual's section number, an order number, an IBAN-shaped token glued to a word
    quiet = found(engine, "see 6.3.1.1 of the manual; Order #918448533879 shipped; build 20241107123045 done", "en",
                  0.4)
    assert not quiet, quiet


def test_ner_model_plugs_in_by_path(tmp_path):
    """A spaCy pipeline saved to disk is loaded by path (here blank ones: no NER, no download);
    the pattern recognizers keep working beside it."""
    import spacy

    paths = {}
    for lang in ("en", "zh"):
        spacy.blank(lang).to_disk(tmp_path / lang)
        paths[lang] = str(tmp_path / lang)
    eng = build_analyzer(spacy_model=tuple(sorted(paths.items())))
    assert ("EMAIL", "li.wei@example.com") in found(eng, "写信给li.wei@example.com。", "zh")
    assert any(r.name == "SpacyRecognizer" for r in eng.registry.recognizers)
    with pytest.raises(ValueError, match="no model for"):
        build_analyzer(spacy_model=(("en", paths["en"]),))


def test_phone_shaped_numbers_after_a_phone_word_or_in_a_national_format(engine):
    """Numbers libphonenumber calls invalid are still redacted where a reader sees a phone
    number: after Phone/Tel/电话/手机..., or written in a major country's format."""
    import phonenumbers

    cases = [("Phone: 555-0134", "555-0134"), ("Tel.: +49 (0)30 901820-0", "+49 (0)30 901820-0"),
             ("电话：021-5555 0000", "021-5555 0000"), ("Téléphone : 01 99 99 99 99", "01 99 99 99 99"),
             ("call (212) 555-0199 today", "(212) 555-0199"), ("office +44 20 0000 0000.", "+44 20 0000 0000"),
             ("携帯 090-0000-0000", "090-0000-0000"), ("请拨打 400-000-0000", "400-000-0000")]
    invalid = 0
    for text, number in cases:
        assert ("PHONE_NUMBER", number) in found(engine, text, "en", 0.4), text
        try:
            invalid += not phonenumbers.is_valid_number(phonenumbers.parse(number, "US"))
        except phonenumbers.NumberParseException:
            invalid += 1
    assert invalid >= 5                       # most of them libphonenumber would not have flagged


def test_dates_versions_and_passwd_lines_are_not_pii(engine):
    quiet = ["Released 08.05.2023, updated 2023-05-08 10:30:00 and 2023/05/08.",
             "Upgrade to version 3.11.2-6+deb12u9 (kernel 6.1.0.18) on 20230508.",
             "passwd: files systemd", "passwd: all authentication tokens updated successfully",
             "Password: ********", "password: <your password>", "api_key = ${OPENAI_API_KEY}",
             "root:x:0:0:root:/root:/bin/bash", "Page 12 of 345, lines 100-2000, port 8080"]
    for text in quiet:
        assert not found(engine, text, "en", 0.4), text
    # ... while a phone next to a date, and a real password line, still are
    hits = found(engine, "Updated 2023-05-08. Phone: +1 415 555 0100. password=Tr0ub4dor&3", "en", 0.4)
    assert ("PHONE_NUMBER", "+1 415 555 0100") in hits and ("SECRET", "password=Tr0ub4dor&3") in hits


def test_secrets_by_weak_key_words_command_lines_and_near_a_credential_word(engine):
    """Secrets the KEY = value pattern misses, and the documentation lines around them that
    must stay (each of the quiet ones was flagged by a draft of these recognizers)."""
    cases = [("AccountName=logs;AccountKey=cHJvZGxvZ3NLZXlCYXNlNjRWYWx1ZUZvclRl2345==;EndpointSuffix=x",
              "cHJvZGxvZ3NLZXlCYXNlNjRWYWx1ZUZvclRl2345=="),
             ("Use the shared key 4c7e9a1b3d5f7092e4c6a8b0d2f4e6a8 for HMAC.", "4c7e9a1b3d5f7092e4c6a8b0d2f4e6a8"),
             ("mysql -u root -pRt00t!2024x -h db shop", "Rt00t!2024x"),
             ("redis-cli -a Rd!s-2024-pass -h cache ping", "Rd!s-2024-pass"),
             ("Authorization: Basic YWRtaW46U3VwM3JTM2NyZXQh", "YWRtaW46U3VwM3JTM2NyZXQh"),
             ("The router's admin login is admin / Rtr#5531!a.", "Rtr#5531!a"),
             ("Redis 密码设置为 Redis@2025!x，端口 6379。", "Redis@2025!x"),
             ("bot token: 5829471036:AAHk3f9QmZx7LpR2tVw8YcN1bJd4Gs6EuKo", "AAHk3f9QmZx7LpR2tVw8YcN1bJd4Gs6EuKo"),
             ("api_secret => 'f3a9c7e1b5d2084f6a1c3e5b7d9f0a2c',", "f3a9c7e1b5d2084f6a1c3e5b7d9f0a2c")]
    for text, value in cases:
        spans = [v for e, v in found(engine, text, "zh" if "密码" in text else "en", 0.4) if e == "SECRET"]
        assert any(value in v for v in spans), (text, spans)
    quiet = ["gpg: using RSA key 647F28654894E3BD457199BE38DBBDC86092693E",
             "docker run -e POSTGRES_USER=app -d postgres:16 with the login prompt",
             "switch to a character based login prompt by Ctrl-Alt-F3, and you",
             "you can pass autospec=True to patch() or pass an io.BytesIO object",
             "password = getpass.getpass()", "username = utilisateur\npassword = mot_de_passe",
             "change their password:\n# htpasswd /etc/apache2/authfiles/htpasswd-private user",
             "root@server's password:\nroot@server's password:", "密码长度至少8位，需包含大小写字母。",
             "login from 2001:db8::83ad blocked", "token: ${GITHUB_TOKEN}", "Primary key: customer_id"]
    for text in quiet:
        assert not {e for e, _ in found(engine, text, "zh" if "密码" in text else "en", 0.4)} & {"SECRET"}, text
