"""The data dashboard: one static HTML file of plots and tables, from the lake's Delta tables.

Every figure is an aggregation done in Spark and collected small (a few hundred rows at
most), drawn with matplotlib (Agg backend) and inlined as a PNG, so the file opens
anywhere without a server or network. Sections: runs (rows in/kept/rejected per stage
over runs, durations), drop reasons, duplicate rate, documents by language and quality
tier, tokens by modality/language/dataset over runs, PII found, licenses, the last
export's mixture realised against its target, and the lake's tokens per modality and
language next to the user's 100T pool plan, and the capacity plan for that pool from the
lake's own measured rates (pipelines/plan.py, as `lakehouse plan` prints it). Driver-side:
`collect` takes the job's lake handle (jobs/common/lake.py Lake), `render` only the
collected frames.
"""
from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime

import pandas as pd

from pipelines import plan as capacity
from pipelines.plan import POOL_PLAN_T


def _sql(lake, table: str, query: str) -> pd.DataFrame:
    if not lake.exists(table):
        return pd.DataFrame()
    return lake.spark.sql(query).toPandas()


def collect(lake) -> dict[str, pd.DataFrame]:
    """The small frames the report draws (empty where a table does not exist yet)."""
    lake.activate()
    d = {
        "runs": _sql(lake, "ops.runs", "SELECT run_id, stage, status, started_at, duration_s, rows_in, rows_kept, "
                                        "rows_rejected, metrics['dup_rate_before'] AS dup_rate FROM ops.runs "
                                        "ORDER BY started_at"),
        "rejects": _sql(lake, "ops.rejects", "SELECT stage, reason, count(*) AS n FROM ops.rejects "
                                             "GROUP BY stage, reason ORDER BY n DESC"),
        "langs": _sql(lake, "silver.documents", "SELECT lang, quality_tier, count(*) AS n FROM silver.documents "
                                                "WHERE dup_keep OR dup_keep IS NULL GROUP BY lang, quality_tier"),
        "tokens": _sql(lake, "gold.token_counts", "SELECT c.run_id, min(r.started_at) AS started_at, c.modality, "
                                                  "c.lang, c.dataset, sum(c.tokens) AS tokens, sum(c.docs) AS docs "
                                                  "FROM gold.token_counts c LEFT JOIN ops.runs r "
                                                  "ON r.run_id = c.run_id GROUP BY c.run_id, c.modality, c.lang, "
                                                  "c.dataset"),
        "pii": _sql(lake, "silver.pii_audit", "SELECT entity_type, sum(count) AS found, count(DISTINCT doc_id) AS docs "
                                              "FROM silver.pii_audit GROUP BY entity_type ORDER BY found DESC"),
        "licenses": _sql(lake, "silver.redacted_documents", "SELECT license_status, license, count(*) AS n "
                                                            "FROM silver.redacted_documents "
                                                            "GROUP BY license_status, license"),
        "exports": _sql(lake, "gold.exports", "SELECT export_id, max(manifest_path) AS manifest, "
                                              "max(exported_at) AS at FROM gold.exports GROUP BY export_id "
                                              "ORDER BY at DESC LIMIT 1"),
    }
    d["mixture"] = _mixture(lake, d["exports"])
    d["rates"] = capacity.rates_from_lake(lake)
    d["holdings"] = _sql(lake, "gold.tokens", "SELECT modality, lang, sum(n_tokens) AS tokens, count(*) AS rows, "
                                              "sum(end_s - start_s) / 3600 AS hours FROM gold.tokens "
                                              "GROUP BY modality, lang")
    return d


LANG_PLAN = {"zh": 0.40, "en": 0.50, "other": 0.10}   # of the language tokens: text + audio + video


def plan_vs_lake(holdings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per modality and per language (zh, en, other): the lake's tokens and share next to the
    100T pool plan, and how much of the plan the lake holds."""
    h = holdings if not holdings.empty else pd.DataFrame(columns=["modality", "lang", "tokens", "rows", "hours"])
    total = float(h["tokens"].sum()) or 1.0
    plan_total = sum(POOL_PLAN_T.values()) * 1e12
    mods = []
    for m, t in POOL_PLAN_T.items():
        sub = h[h["modality"] == m]
        tok = float(sub["tokens"].sum())
        mods.append({"modality": m, "lake_tokens": int(tok), "lake_share": tok / total,
                     "hours": float(sub["hours"].fillna(0).sum()), "rows": int(sub["rows"].sum()),
                     "plan_tokens": t * 1e12, "plan_share": t * 1e12 / plan_total, "of_plan": tok / (t * 1e12)})
    lang = h[h["modality"].isin(["text", "audio", "video"]) & h["lang"].notna()]
    ltotal = float(lang["tokens"].sum()) or 1.0
    plan_lang = (POOL_PLAN_T["text"] + POOL_PLAN_T["audio"] + POOL_PLAN_T["video"]) * 1e12
    langs = []
    for key, share in LANG_PLAN.items():
        sub = lang[~lang["lang"].isin(["zh", "en"])] if key == "other" else lang[lang["lang"] == key]
        tok = float(sub["tokens"].sum())
        langs.append({"lang": key, "lake_tokens": int(tok), "lake_share": tok / ltotal, "plan_share": share,
                      "plan_tokens": share * plan_lang, "of_plan": tok / (share * plan_lang)})
    return pd.DataFrame(mods), pd.DataFrame(langs)


def _table(df: pd.DataFrame) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) >= 1e4 or abs(v) < 1e-3 else f"{v:.4f}".rstrip("0").rstrip(".")
        return html.escape(str(v))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _mixture(lake, exports: pd.DataFrame) -> pd.DataFrame:
    """Target vs realised shares per modality and per modality/dataset of the last export
    (its manifest's mixture report)."""
    if exports.empty:
        return pd.DataFrame()
    path = exports.iloc[0]["manifest"]
    try:
        if "://" not in path or path.startswith("file:"):
            with open(path.removeprefix("file:")) as fh:
                manifest = json.load(fh)
        else:
            jvm = lake.spark._jvm
            p = jvm.org.apache.hadoop.fs.Path(path)
            stream = p.getFileSystem(lake.spark._jsc.hadoopConfiguration()).open(p)
            manifest = json.loads(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    except OSError:
        return pd.DataFrame()
    mix = manifest.get("mixture") or {}
    return pd.DataFrame([{"group": k, "level": level, "target": v.get("target"), "realised": v.get("realised")}
                         for level in ("modality", "dataset") for k, v in (mix.get(level) or {}).items()])


# -- drawing ---------------------------------------------------------------------------------
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def figures(d: dict[str, pd.DataFrame]) -> list[tuple[str, str, str]]:
    """(id, title, base64 PNG) for every plot that has data."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    runs = d["runs"]
    done = runs[runs["status"] == "succeeded"] if not runs.empty else runs
    if not done.empty:
        fig, ax = plt.subplots(figsize=(9, 3.6))
        agg = done.groupby("stage", sort=False)[["rows_in", "rows_kept", "rows_rejected"]].sum()
        agg.plot.bar(ax=ax, color=["#8da0cb", "#66c2a5", "#fc8d62"])
        ax.set_ylabel("rows (all runs)")
        ax.set_title("Rows in, kept and rejected per stage")
        out.append(("rows-per-stage", "Rows per stage", _png(fig)))
        fig, ax = plt.subplots(figsize=(9, 3.6))
        for stage, g in done.groupby("stage", sort=False):
            ax.plot(pd.to_datetime(g["started_at"]), g["rows_in"].fillna(0), marker="o", label=stage)
        ax.set_ylabel("rows in")
        ax.set_title("Rows in per run, by stage")
        ax.legend(fontsize=8, ncol=3)
        fig.autofmt_xdate()
        out.append(("rows-over-runs", "Rows per run", _png(fig)))
    if not d["rejects"].empty:
        rj = d["rejects"].head(20)
        fig, ax = plt.subplots(figsize=(9, 0.3 * len(rj) + 1.2))
        ax.barh([f"{s}: {r}" for s, r in zip(rj["stage"], rj["reason"])][::-1], rj["n"][::-1], color="#fc8d62")
        ax.set_xlabel("rows")
        ax.set_title("Drop reasons (ops.rejects)")
        out.append(("drop-reasons", "Drop reasons", _png(fig)))
    dedup = done[done["stage"] == "dedup"] if not done.empty else done
    if not dedup.empty:
        fig, ax = plt.subplots(figsize=(9, 3))
        ax.bar(range(len(dedup)), 100 * dedup["dup_rate"].fillna(0), color="#8da0cb")
        ax.axhline(3, color="red", lw=1, ls="--", label="go/no-go 3%")
        ax.set_xticks(range(len(dedup)), [str(t)[:16] for t in dedup["started_at"]], rotation=30, fontsize=7)
        ax.set_ylabel("% of the run's documents")
        ax.set_title("Duplicate rate per dedup run (before dedup; after: 0)")
        ax.legend(fontsize=8)
        out.append(("dup-rate", "Duplicate rate", _png(fig)))
    if not d["langs"].empty:
        piv = d["langs"].pivot_table(index="lang", columns="quality_tier", values="n", aggfunc="sum", fill_value=0)
        piv = piv.loc[piv.sum(axis=1).sort_values(ascending=False).index]
        fig, ax = plt.subplots(figsize=(9, 3.6))
        piv.plot.bar(stacked=True, ax=ax)
        ax.set_ylabel("documents")
        ax.set_title("Documents going forward by language and quality tier")
        out.append(("langs-tiers", "Languages and quality tiers", _png(fig)))
    tok = d["tokens"]
    if not tok.empty:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for ax, key in zip(axes, ("modality", "lang", "dataset")):
            s = tok.groupby(key)["tokens"].sum().sort_values(ascending=False).head(15)
            ax.bar(s.index.astype(str), s.values, color="#66c2a5")
            ax.set_title(f"tokens by {key}")
            ax.tick_params(axis="x", rotation=60, labelsize=7)
        out.append(("tokens", "Tokens by modality, language, dataset", _png(fig)))
        fig, ax = plt.subplots(figsize=(9, 3))
        per_run = tok.groupby(["started_at", "modality"])["tokens"].sum().unstack(fill_value=0)
        per_run.index = [str(t)[:16] for t in per_run.index]
        per_run.plot.bar(stacked=True, ax=ax)
        ax.set_ylabel("new tokens")
        ax.set_title("Tokens added per tokenize run")
        ax.tick_params(axis="x", rotation=30, labelsize=7)
        out.append(("tokens-over-runs", "Tokens per run", _png(fig)))
    if not d["pii"].empty:
        fig, ax = plt.subplots(figsize=(9, 3.4))
        ax.bar(d["pii"]["entity_type"], d["pii"]["found"], color="#e78ac3")
        ax.set_title("PII found (silver.pii_audit)")
        ax.tick_params(axis="x", rotation=45, labelsize=8)
        out.append(("pii", "PII found", _png(fig)))
    if not d["licenses"].empty:
        s = d["licenses"].groupby("license")["n"].sum().sort_values(ascending=False)
        fig, ax = plt.subplots(figsize=(9, 3))
        ax.bar(s.index.astype(str), s.values, color="#a6d854")
        ax.set_title("Licenses of the documents going forward")
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        out.append(("licenses", "Licenses", _png(fig)))
    mix = d["mixture"]
    if not mix.empty:
        fig, ax = plt.subplots(figsize=(9, 3.4))
        x = range(len(mix))
        ax.bar([i - 0.2 for i in x], mix["target"].fillna(0), width=0.4, label="target")
        ax.bar([i + 0.2 for i in x], mix["realised"].fillna(0), width=0.4, label="realised")
        ax.set_xticks(list(x), mix["group"], rotation=30, fontsize=7)
        ax.set_ylabel("share of tokens")
        ax.set_title("Last export: mixture realised vs target")
        ax.legend(fontsize=8)
        out.append(("mixture", "Mixture", _png(fig)))
    return out


def render(d: dict[str, pd.DataFrame], lake_root: str) -> str:
    figs = figures(d)
    runs = d["runs"].tail(15)
    rows = "".join(f"<tr><td>{html.escape(str(r.stage))}</td><td>{html.escape(str(r.status))}</td>"
                   f"<td>{html.escape(str(r.started_at)[:19])}</td><td>{(r.duration_s or 0):.1f}</td>"
                   f"<td>{'' if pd.isna(r.rows_in) else int(r.rows_in)}</td>"
                   f"<td>{'' if pd.isna(r.rows_kept) else int(r.rows_kept)}</td>"
                   f"<td>{'' if pd.isna(r.rows_rejected) else int(r.rows_rejected)}</td></tr>"
                   for r in runs.itertuples()) if not runs.empty else ""
    nav = " · ".join([f'<a href="#{i}">{html.escape(t)}</a>' for i, t, _ in figs]
                     + ['<a href="#plan">Plan</a>', '<a href="#capacity">Capacity</a>'])
    body = "".join(f'<section id="{i}"><h2>{html.escape(t)}</h2><img alt="{html.escape(t)}" '
                   f'src="data:image/png;base64,{b}"></section>' for i, t, b in figs)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mods, langs = plan_vs_lake(d["holdings"])
    plan_tables = _table(mods) + "<p></p>" + _table(langs)
    cap = capacity.plan(d["rates"], capacity.Pool())
    cap_rows = capacity.rows(cap)
    cap_tables = "<p></p>".join(_table(pd.DataFrame(cap_rows[k])) for k in ("modalities", "stages", "layers")
                                if cap_rows[k])
    cap_total = (f"{cap['core_hours']:,.0f} core-hours, {cap['wall_hours']:,.1f} h on {cap['pool']['cores']} cores, "
                 f"shuffle {capacity.human(cap['shuffle_bytes'], 'B')}; a nightly of 1%: "
                 f"{cap['nightly']['core_hours']:,.1f} core-hours" + ("" if cap["complete"] else
                                                                     " (modalities without measured rates left out)"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lakehouse data report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}}
img{{max-width:100%;border:1px solid #ddd}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
section{{margin:1.5em 0}}</style></head>
<body><h1>Data report</h1><p>Lake <code>{html.escape(lake_root)}</code>, {when}. {len(figs)} plots.</p>
<p>{nav}</p>
<h2 id="plan">The lake against the 100T pool plan</h2>
<p>Tokens in gold.tokens by modality (hours of audio and video) and by language (of text, audio and video
tokens), next to the plan: 94.0T text, 2.5T audio, 2.5T video, 1.0T image; zh ~40%, en ~50%, other ~10%.</p>
{plan_tables}
<h2 id="capacity">Capacity plan for the 100T pool</h2>
<p>What building the pool would cost at the per-core rates this lake's runs measured (`lakehouse plan`, the
same figures): {html.escape(cap_total)}.</p>
{cap_tables}
<h2>Last runs</h2><table><tr><th>stage</th><th>status</th><th>started</th><th>seconds</th><th>in</th><th>kept</th>
<th>rejected</th></tr>{rows}</table>
{body}
</body></html>
"""
