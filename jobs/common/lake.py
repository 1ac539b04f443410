"""The lake: one root (local folder, s3a:// or hdfs://), medallion databases, Delta helpers.

Tables are created on first use at `<root>/<database>/<table>` and registered in the
session catalog, so `spark.sql("SELECT ... FROM bronze.documents")` works in every session
(with the in-memory catalog of local mode the registration is redone at each start; with a
Hive metastore or Unity Catalog it is a no-op after the first time).
"""
from __future__ import annotations

import logging
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.uris import to_uri
from schemas.lineage import check_lineage
from schemas.tables import DATABASES, TABLES, TableSpec, table

log = logging.getLogger("lakehouse")


class Lake:
    def __init__(self, spark: SparkSession, root: str):
        self.spark = spark
        self.root = to_uri(root).rstrip("/")
        self._registered: set[str] = set()
        self._ensured: set[str] = set()
        for db in DATABASES:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
        self.register_existing()

    # -- paths and registration -------------------------------------------------------
    def path(self, name: str) -> str:
        spec = table(name)
        return f"{self.root}/{spec.database}/{spec.short}"

    def exists(self, name: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    # -- small files beside the tables (manifests), through Hadoop's FileSystem ---------
    def _fs_path(self, rel: str):
        jvm = self.spark._jvm
        p = jvm.org.apache.hadoop.fs.Path(f"{self.root}/{rel}")
        return p, p.getFileSystem(self.spark._jsc.hadoopConfiguration())

    def write_text(self, rel: str, text: str) -> str:
        """Write `<root>/<rel>` (overwriting); returns its URI."""
        p, fs = self._fs_path(rel)
        out = fs.create(p, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        return p.toString()

    def create_text(self, rel: str, text: str) -> bool:
        """Create `<root>/<rel>` only if it does not exist (atomic on local and HDFS file
        systems); False if it already exists."""
        p, fs = self._fs_path(rel)
        try:
            out = fs.create(p, False)
        except Exception as e:  # py4j wraps FileAlreadyExistsException
            if "FileAlreadyExists" in str(e) or fs.exists(p):
                return False
            raise
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        return True

    def delete_text(self, rel: str) -> None:
        p, fs = self._fs_path(rel)
        fs.delete(p, False)

    def read_text(self, rel: str) -> str | None:
        p, fs = self._fs_path(rel)
        if not fs.exists(p):
            return None
        jvm = self.spark._jvm
        stream = fs.open(p)
        try:
            return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def register(self, name: str) -> None:
        """Point the catalog name at this lake's table.

        The in-memory catalog of local mode is re-pointed when another lake was opened in the
        same session; a persistent metastore whose table points elsewhere is an error.
        """
        if name in self._registered:
            return
        path = self.path(name)
        if self.spark.catalog.tableExists(name):
            where = self.spark.sql(f"DESCRIBE DETAIL {name}").select("location").collect()[0][0]
            if where.rstrip("/") != path:
                if self.spark.conf.get("spark.sql.catalogImplementation", "in-memory") != "in-memory":
                    raise RuntimeError(f"catalog table {name} points at {where}, but the lake root is "
                                       f"{self.root}: drop it or use the lake it belongs to")
                self.spark.sql(f"DROP TABLE {name}")  # external table: drops the name, not the data
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{path}'")
        self._registered.add(name)

    def activate(self) -> Lake:
        """Re-register this lake's tables (after another lake was opened in the same session)."""
        self._registered.clear()
        self.register_existing()
        return self

    def register_existing(self) -> list[str]:
        """Register every table of the registry that already exists under the root."""
        found = [n for n in TABLES if self.exists(n)]
        for n in found:
            self.register(n)
        return found

    def ensure(self, name: str) -> TableSpec:
        """Create the table (empty, with its schema, partitioning and properties) if missing;
        add columns the spec gained since it was created. Checked once per Lake and table."""
        spec = table(name)
        if name in self._ensured:
            return spec
        self._ensured.add(name)
        if not self.exists(name):
            b = (DeltaTable.createIfNotExists(self.spark).location(self.path(name)).addColumns(spec.schema))
            if spec.partition_by:
                b = b.partitionedBy(*spec.partition_by)
            for k, v in spec.properties.items():
                b = b.property(k, v)
            b.execute()
            log.info("created %s at %s", name, self.path(name))
        else:
            self._evolve(spec)
        self.register(name)
        return spec

    def _evolve(self, spec: TableSpec) -> None:
        """Schema evolution: columns a later release added to the spec (all nullable) are added;
        NOT NULL columns it dropped (gold.exports.doc_ids) become nullable, so writes go on;
        table properties it gained (silver.documents' deletion vectors) are set."""
        fields = self.spark.read.format("delta").load(self.path(spec.name)).schema.fields
        have = {f.name for f in fields}
        new = [f for f in spec.schema.fields if f.name not in have]
        where = f"delta.`{self.path(spec.name)}`"
        if new:
            cols = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in new)
            self.spark.sql(f"ALTER TABLE {where} ADD COLUMNS ({cols})")
            log.info("added columns to %s: %s", spec.name, cols)
        for f in fields:
            if not f.nullable and f.name not in spec.schema.fieldNames():
                self.spark.sql(f"ALTER TABLE {where} ALTER COLUMN {f.name} DROP NOT NULL")
                log.info("%s.%s is no longer written: made nullable", spec.name, f.name)
        if spec.properties:
            props = DeltaTable.forPath(self.spark, self.path(spec.name)).detail().first()["properties"] or {}
            gained = {k: v for k, v in spec.properties.items() if k not in props}
            if gained:
                sets = ", ".join(f"'{k}' = '{v}'" for k, v in gained.items())
                self.spark.sql(f"ALTER TABLE {where} SET TBLPROPERTIES ({sets})")
                log.info("set %s on %s", sets, spec.name)

    # -- reads and versions -----------------------------------------------------------
    def read(self, name: str, version: int | None = None) -> DataFrame:
        self.ensure(name)
        r = self.spark.read.format("delta")
        if version is not None:
            r = r.option("versionAsOf", version)
        return r.load(self.path(name))

    def version(self, name: str) -> int | None:
        """Latest Delta version of a table, None when it does not exist yet."""
        if not self.exists(name):
            return None
        return DeltaTable.forPath(self.spark, self.path(name)).history(1).collect()[0]["version"]

    RUN_COLUMNS = frozenset({"run_id", "ingest_run_id", "processed_at", "rejected_at", "ingested_at", "exported_at",
                             "counted_at", "pipeline_version"})

    def fingerprint(self, name: str) -> str:
        """`rows:hash` of a table's content, independent of row order and of which run wrote
        what (RUN_COLUMNS are left out): equal after a killed-and-resumed run and after an
        uninterrupted one. An order-free sum of 64-bit row hashes, computed in Spark."""
        df = self.read(name)
        cols = []
        for f in df.schema.fields:
            if f.name in self.RUN_COLUMNS:
                continue
            c = F.col(f.name)
            if f.dataType.typeName() == "map":    # hash() does not take maps: their sorted entries
                c = F.to_json(F.array_sort(F.map_entries(c)))
            cols.append(c)
        r = df.agg(F.count("*").alias("n"), F.sum(F.xxhash64(*cols).cast("decimal(38,0)")).alias("h")).first()
        return f"{r['n']}:{r['h'] or 0}"

    # -- writes ------------------------------------------------------------------------
    def conform(self, name: str, df: DataFrame) -> DataFrame:
        """Select the table's columns in schema order, cast to the schema's types."""
        spec = table(name)
        missing = [f.name for f in spec.schema.fields if f.name not in df.columns and not f.nullable]
        if missing:
            raise ValueError(f"{name}: frame lacks columns {missing}")
        for f in spec.schema.fields:   # nullable columns another stage fills later
            if f.name not in df.columns:
                df = df.withColumn(f.name, F.lit(None).cast(f.dataType))
        have = {f.name: f.dataType.simpleString() for f in df.schema.fields}
        return df.select([df[f.name] if have[f.name] == f.dataType.simpleString()
                          else df[f.name].cast(f.dataType).alias(f.name) for f in spec.schema.fields])

    def merge_insert(self, name: str, df: DataFrame, check: bool = True, source_persisted: bool = False) -> int:
        """Insert rows whose keys are not in the table yet; existing keys are left as they are.

        Returns the number of rows inserted. Idempotent: the same input twice inserts once.
        The source must not hold a key twice (the insert would add both). With
        `source_persisted` (a persisted, deterministic source) Delta skips its own copy of it.
        """
        spec = self.ensure(name)
        df = self.conform(name, df)
        if check and spec.lineage:
            check_lineage(df, name)
        cond = reduce(lambda a, b: f"{a} AND {b}", [f"t.{k} <=> s.{k}" for k in spec.keys])
        before = self.version(name)
        key, prev = "spark.databricks.delta.merge.materializeSource", None
        if source_persisted:
            prev = self.spark.conf.get(key, "auto")
            self.spark.conf.set(key, "none")
        try:
            (DeltaTable.forPath(self.spark, self.path(name)).alias("t")
             .merge(df.alias("s"), cond).whenNotMatchedInsertAll().execute())
        finally:
            if prev is not None:
                self.spark.conf.set(key, prev)
        return self._metric_since(name, before, "numTargetRowsInserted")

    def insert_counted(self, name: str, df: DataFrame, expected: int, check: bool = True,
                       source_persisted: bool = False, within=None) -> tuple[int, int]:
        """MERGE-insert `df`, which holds `expected` rows: (rows inserted, rows of df the table
        holds afterwards), the latter being those inserted now plus, on a resumed run, those a
        killed run had inserted. Rows are counted by key (`within` narrows the table, e.g. to
        a partition) only when fewer were inserted than expected, so a lost write shows."""
        if not expected:
            return 0, 0
        inserted = self.merge_insert(name, df, check=check, source_persisted=source_persisted)
        if inserted == expected:
            return inserted, inserted
        if inserted > expected:
            from jobs.common.runs import AccountingError

            raise AccountingError(f"{name}: {inserted} rows inserted for {expected} written: a key twice in one run")
        keys = list(table(name).keys)
        target = self.read(name) if within is None else self.read(name).where(within)
        return inserted, df.select(*keys).join(target.select(*keys), keys, "left_semi").count()

    def merge_upsert(self, name: str, df: DataFrame) -> None:
        """Update matching keys with all columns, insert the rest (used for ops.runs status)."""
        spec = self.ensure(name)
        df = self.conform(name, df)
        cond = " AND ".join(f"t.{k} = s.{k}" for k in spec.keys)
        (DeltaTable.forPath(self.spark, self.path(name)).alias("t")
         .merge(df.alias("s"), cond).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())

    def merge_update(self, name: str, df: DataFrame, columns: list[str], broadcast: bool = False) -> int:
        """Set `columns` of existing rows from df, matched on the table's keys; returns the rows
        updated. `broadcast`: ship df to every task instead of shuffling the table's rows (df
        must fit in memory)."""
        spec = self.ensure(name)
        cond = " AND ".join(f"t.{k} = s.{k}" for k in spec.keys)
        src = F.broadcast(df) if broadcast else df
        before = self.version(name)
        (DeltaTable.forPath(self.spark, self.path(name)).alias("t").merge(src.alias("s"), cond)
         .whenMatchedUpdate(set={c: f"s.{c}" for c in columns}).execute())
        return self._metric_since(name, before, "numTargetRowsUpdated")

    def merge_update_insert(self, name: str, updates: DataFrame, columns: list[str],
                            inserts: DataFrame) -> tuple[int, int]:
        """One MERGE: set `columns` of the existing rows `updates` names (on the table's keys),
        and insert the rows of `inserts` whose keys are new. A key may be in one of the two
        frames only. Returns (rows updated, rows inserted)."""
        spec = self.ensure(name)
        upd = updates.select([(F.col(f.name) if f.name in updates.columns else F.lit(None)).cast(f.dataType)
                              .alias(f.name) for f in spec.schema.fields])     # only keys + columns are read
        src = upd.withColumn("_op", F.lit("u")).unionByName(self.conform(name, inserts).withColumn("_op", F.lit("i")))
        cond = " AND ".join(f"t.{k} = s.{k}" for k in spec.keys)
        before = self.version(name)
        (DeltaTable.forPath(self.spark, self.path(name)).alias("t").merge(src.alias("s"), cond)
         .whenMatchedUpdate(condition="s._op = 'u'", set={c: f"s.{c}" for c in columns})
         .whenNotMatchedInsert(condition="s._op = 'i'", values={f.name: f"s.{f.name}" for f in spec.schema.fields})
         .execute())
        return (self._metric_since(name, before, "numTargetRowsUpdated"),
                self._metric_since(name, before, "numTargetRowsInserted"))

    def delete_matching(self, name: str, df: DataFrame, on: tuple[str, ...] | None = None,
                        where: str | None = None) -> int:
        """Delete the table's rows matching df on `on` (default the table's keys) and, if given,
        the SQL condition `where` over the table (`t.`); returns the rows deleted (0 when the
        table does not exist). Idempotent."""
        if not self.exists(name):
            return 0
        keys = on or self.ensure(name).keys
        cond = " AND ".join([f"t.{k} = s.{k}" for k in keys] + ([f"({where})"] if where else []))
        before = self.version(name)
        (DeltaTable.forPath(self.spark, self.path(name)).alias("t").merge(df.select(*keys).distinct().alias("s"), cond)
         .whenMatchedDelete().execute())
        return self._metric_since(name, before, "numTargetRowsDeleted")

    def append(self, name: str, df: DataFrame) -> None:
        self.ensure(name)
        self.conform(name, df).write.format("delta").mode("append").save(self.path(name))

    def _metric_since(self, name: str, before: int | None, metric: str) -> int:
        """A metric of the commit after `before` (a MERGE that changes nothing commits nothing: 0)."""
        h = DeltaTable.forPath(self.spark, self.path(name)).history(1).collect()[0]
        if before is not None and h["version"] == before:
            return 0
        return int((h["operationMetrics"] or {}).get(metric, 0))
