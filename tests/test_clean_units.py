"""Clean stage pieces without Spark: every rule fires on a crafted document and not on clean
ones (English and Chinese), extraction, normalization, language ID, the quality model."""
from __future__ import annotations

import json

import pytest

from jobs.common.config import ConfigError, load_config
from pipelines.clean.extract import extract, normalize
from pipelines.clean.rules import failed, rules_from_config
from pipelines.clean.signals import measure
from quality_models.training_data import load_texts

RULES_SPEC = load_config("sample")["clean"]["rules"]
RULES = rules_from_config(RULES_SPEC)
ALL_RULES = rules_from_config({k: {**v, "enabled": True} for k, v in RULES_SPEC.items()})   # the off ones too
TEXTS = load_texts()
CLEAN_EN = "\n\n".join(TEXTS["en"][10:16])
CLEAN_ZH = "\n\n".join(TEXTS["zh"][10:16])
EN_SENT = ("The installer asks a few questions about the network and the disks, and then it copies the base "
           "system to the target partition so that the machine can boot on its own. ")


def fails(text: str, lang: str, rules=RULES) -> list[str]:
    return failed(rules, measure(text, lang), lang)


def test_clean_documents_pass_every_rule():
    assert fails(CLEAN_EN, "en") == []
    assert fails(CLEAN_ZH, "zh") == []
    for lang in ("de", "fr", "ru", "ja", "ko", "vi", "el"):
        assert fails("\n\n".join(TEXTS[lang][10:16]), lang) == [], lang


def _lines(prefix, n, word="item"):
    return "\n".join(f"{prefix}{word} {i} of the list with several words to count" for i in range(n))


CRAFTED = {
    "gopher_min_words": ("Too short to be a document.", "en"),
    "gopher_max_words": (("word " * 100_001), "en"),
    "gopher_mean_word_length": (" ".join(["supercalifragilisticexpialidocious"] * 80), "en"),
    "gopher_symbol_ratio": (EN_SENT * 3 + " ".join(["#tag"] * 20), "en"),
    "gopher_bullet_lines": (_lines("• ", 30), "en"),
    "gopher_ellipsis_lines": ("\n".join(f"{EN_SENT} and then..." for _ in range(4)) + "\n" + EN_SENT * 2, "en"),
    "gopher_alpha_words": (EN_SENT * 2 + " ".join(str(i) for i in range(200)), "en"),
    "gopher_stop_words": (" ".join(f"alpha{i} beta gamma delta." for i in range(40)), "en"),
    "gopher_dup_lines": ("\n".join([EN_SENT] * 6 + [CLEAN_EN]), "en"),
    "gopher_dup_paras": ("\n\n".join([TEXTS["en"][3]] * 5 + [CLEAN_EN]), "en"),
    "gopher_top_2gram": (" ".join(["buy now"] * 60) + " " + EN_SENT, "en"),
    "gopher_dup_5gram": (EN_SENT * 4, "en"),
    "c4_lorem_ipsum": (CLEAN_EN + "\nLorem ipsum dolor sit amet.", "en"),
    "c4_curly_bracket": (CLEAN_EN + "\nfunction f() { return 1; }", "en"),
    "c4_boilerplate_lines": ("\n".join(["We use cookies on this site.", "Privacy policy and terms of use apply.",
                                        "Log in to subscribe."] * 8) + "\n" + CLEAN_EN, "en"),
    "fineweb_line_punct": ("\n".join(f"heading number {i} without any final stop sign here" for i in range(30)), "en"),
    "fineweb_short_lines": ("\n".join(["Home", "News", "Contact", "Shop", "About"] * 10) + "\n" + CLEAN_EN, "en"),
    "fineweb_newline_ratio": ("\n".join(f"word{i}." for i in range(120)), "en"),
    "fineweb_char_dup_ratio": (CLEAN_EN + "\n\nRead the installation manual before you start.\n\n"
                               "Read the installation manual before you start.", "en"),
    "c4_min_sentences": (" ".join(["the installer and the kernel"] * 12) + ". It boots.\n\nThat is all.", "en"),
    "cjk_min_chars": ("这是一个很短的中文句子。", "zh"),
    "cjk_char_frac": ("这是中文。" + "latin text that dominates this document " * 20, "zh"),
    "cjk_punct_frac": ("中文文本没有任何标点符号" * 30, "zh"),
    "cjk_repeated_chars": (CLEAN_ZH + "哈" * 30 + "。", "zh"),
    "cjk_top_char": (("的" * 3 + "中文内容，") * 40, "zh"),
    "gopher_dup_line_chars": ("\n".join(["这一行会重复出现很多次，因为它是模板生成的垃圾内容。"] * 16 + [CLEAN_ZH]), "zh"),
}


@pytest.mark.parametrize("rule", sorted(CRAFTED))
def test_each_rule_fires_on_its_crafted_document(rule):
    text, lang = CRAFTED[rule]
    assert rule in fails(text, lang, ALL_RULES), (rule, {k: v for k, v in measure(text, lang).items()})


def test_code_bearing_prose_passes_the_default_rules():
    code = "Put this in the boot loader's configuration:\n\nmenuentry 'Debian' { linux /vmlinuz root=/dev/sda1 }"
    assert fails(CLEAN_EN + "\n\n" + code, "en") == []
    assert "c4_curly_bracket" in fails(CLEAN_EN + "\n\n" + code, "en", ALL_RULES)


def test_every_configured_rule_has_a_crafted_case_or_shares_a_signal():
    tested_signals = {r.signal for r in ALL_RULES if r.name in CRAFTED}
    untested = [r.name for r in ALL_RULES if r.name not in CRAFTED and r.signal not in tested_signals]
    # the remaining Gopher n-gram and repetition rules measure the same family as tested ones
    assert set(untested) <= {"gopher_top_3gram", "gopher_top_4gram", "gopher_dup_6gram", "gopher_dup_7gram",
                              "gopher_dup_8gram", "gopher_dup_9gram", "gopher_dup_10gram", "gopher_dup_para_chars",
                              "cjk_max_chars"}


def test_rule_config_errors_are_clear():
    with pytest.raises(ConfigError, match="clean.rules.r .*a rule needs a min or a max"):
        load_config("sample", ["clean.rules.r.signal=n_words"])
    with pytest.raises(ConfigError, match="unknown config key clean.rules.r.mni .*did you mean clean.rules.r.min"):
        load_config("sample", ["clean.rules.r={signal: n_words, min: 1, mni: 2}"])
    with pytest.raises(ConfigError, match="stage clean: rules refer to unknown signals \\['n_wordz'\\]"):
        load_config("sample", ["clean.rules.r={signal: n_wordz, min: 1}"])


def test_extraction_drops_page_furniture_and_keeps_the_article():
    html = ('<html><head><title>Install guide</title></head><body><nav class="menu"><a href="/">Home</a> | '
            '<a href="/news">News</a></nav><div class="cookie-banner">We use cookies. Accept all</div>'
            f'<article><h1>Installing</h1><p>{TEXTS["en"][1]}</p><p>{TEXTS["en"][2]}</p></article>'
            '<div class="share">Share this: Facebook Twitter</div><footer>All rights reserved.</footer></body></html>')
    for extractor in ("resiliparse", "trafilatura"):
        title, text = extract(html, "html", extractor)
        assert title == "Install guide"
        assert TEXTS["en"][1][:40] in text and "We use cookies" not in text and "Share this" not in text, extractor
    assert extract("plain text stays", "text") == (None, "plain text stays")


def test_normalize_repairs_mojibake_and_keeps_cjk_punctuation():
    assert normalize("doesnâ€™t\r\n\n\n\nwork\x07") == "doesn’t\n\nwork"
    assert normalize("你好，世界。“引号”  ＡＢＣ") == "你好，世界。“引号” ＡＢＣ"


def test_language_id_short_and_long_in_19_languages():
    from pipelines.clean.refine import identify_languages
    from quality_models.models import lid_path

    model = str(lid_path())
    langs = sorted(TEXTS)
    assert len(langs) >= 12
    long_docs = ["\n\n".join(TEXTS[lg][5:10]) for lg in langs]
    short_docs = [TEXTS[lg][-2][:120] for lg in langs]
    for docs in (long_docs, short_docs):
        got = [lang for lang, _ in identify_languages(model, docs, 3000)]
        assert got == langs, list(zip(langs, got))


def test_quality_model_trained_here_ranks_clean_text_above_boilerplate(tmp_path):
    from quality_models.quality import score, train

    path = train(tmp_path)
    metrics = json.loads(path.with_suffix(".json").read_text())
    assert metrics["hq"]["f1"] > 0.7 and metrics["lq"]["f1"] > 0.7 and metrics["test_examples"] > 100
    held = metrics["heldout"]          # sources and junk kinds no training example came from
    assert held["hq"]["recall"] > 0.8 and held["lq"]["recall"] > 0.8 and held["examples"] > 200, held
    clean = [CLEAN_EN, CLEAN_ZH]
    junk = ["Home | News | About us | Contact\nWe use cookies. Accept all cookies?\nShare: Facebook Twitter\n"
            "cheap watches buy online best discount free shipping", "首页 | 新闻 | 登录 | 注册\n版权所有 © 2026\n免费下载最新高清在线观看"]
    s_clean, s_junk = score(str(path), clean), score(str(path), junk)
    assert min(s_clean) > max(s_junk), (s_clean, s_junk)
    assert path.name == f"quality-{metrics['version']}.bin"  # versioned by data + parameters


def test_quality_corpus_has_several_good_sources_and_keeps_its_held_out_ones_out():
    from quality_models import training_data as td

    c = td.corpus()
    train_groups = {e["group"] for e in c["train"]}
    held_groups = {e["group"] for e in c["heldout"]}
    assert set(td.TRAIN_SOURCES) | set(td.TRAIN_JUNK) <= train_groups
    assert held_groups == set(td.HELDOUT_SOURCES) | set(td.HELDOUT_JUNK)
    assert not train_groups & held_groups
    assert not {e["text"] for e in c["train"]} & {e["text"] for e in c["heldout"]}
    assert not any(i.split(":")[0] in td.HELDOUT_SOURCES for i in c["train_ids"])
    counts = {lab: sum(e["label"] == lab for e in c["train"]) for lab in ("hq", "lq")}
    assert 0.8 < counts["hq"] / counts["lq"] < 1.25, counts
    hq = [e["group"] for e in c["train"] if e["label"] == "hq"]
    assert max(hq.count(g) for g in set(hq)) < 0.5 * len(hq)          # no one source dominates


def test_debian_docs_without_apt_get_say_where_the_model_comes_from(tmp_path, monkeypatch):
    """A driver that is not Debian cannot fetch the training text: a clear error, not a bare OSError."""
    from quality_models import debian_docs

    monkeypatch.setattr(debian_docs.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get not found.*clean.quality.model"):
        debian_docs.fetch(tmp_path)


def test_fasttext_nan_in_this_process_falls_back_to_a_fresh_one(tmp_path, monkeypatch):
    """When training keeps stopping on NaN here, a spawned process (no torch, a clean state) trains it."""
    import fasttext

    from quality_models import quality

    calls = []

    def nan(**kw):
        calls.append(kw)
        raise RuntimeError("Encountered NaN.")
    monkeypatch.setattr(fasttext, "train_supervised", nan)
    data = tmp_path / "train.txt"
    data.write_text("".join(f"__label__{'hq' if i % 2 else 'lq'} {'good words here' if i % 2 else 'buy now'}\n"
                            for i in range(200)))
    model = quality._train_supervised(fasttext, str(data), tries=2)
    assert len(calls) == 2 and model.predict("good words here")[0][0] == "__label__hq"


def test_a_trained_model_with_a_broken_softmax_is_trained_again(tmp_path, monkeypatch):
    """A model that trains without a NaN error but predicts 0 for both labels is not kept."""
    import fasttext
    import numpy as np

    from quality_models import quality

    real, calls = fasttext.train_supervised, []

    def broken_first(**kw):
        model = real(**kw)
        calls.append(kw)
        if len(calls) == 1:
            out = model.get_output_matrix()
            out[:] = np.nan
            model.set_matrices(model.get_input_matrix(), out)
        return model
    monkeypatch.setattr(fasttext, "train_supervised", broken_first)
    data = tmp_path / "train.txt"
    data.write_text("".join(f"__label__{'hq' if i % 2 else 'lq'} {'good words here' if i % 2 else 'buy now'}\n"
                            for i in range(200)))
    model = quality._train_supervised(fasttext, str(data), tries=2, probe=PROBE)
    assert len(calls) == 2 and quality.healthy(model, PROBE)


PROBE = [("hq", "good words here"), ("lq", "buy now")]


def test_a_model_confidently_wrong_on_its_examples_is_not_healthy(tmp_path):
    import fasttext

    from quality_models import quality

    data = tmp_path / "train.txt"
    data.write_text("".join(f"__label__{'hq' if i % 2 else 'lq'} {'good words here' if i % 2 else 'buy now'}\n"
                            for i in range(200)))
    model = quality._train_supervised(fasttext, str(data), probe=PROBE)
    swapped = [("lq", "good words here"), ("hq", "buy now")]
    assert quality.healthy(model, PROBE) and not quality.healthy(model, swapped)
