"""Importing a labeled file: the corpus ingest writes the records; this module writes the labels
and predictions the file carries, in the same transaction, so a file lands whole or not at all.

Labels from a file are an *imported* source (annotator empty), never passed off as a person's
work; predictions from a file are imported suggestions, never ground truth.
"""

from typing import BinaryIO

from django.db.models import Max

from corpus.models import Dataset
from corpus.services.ingest import ImportResult, StagedImport, import_records, register_label_writer
from labeling.models import Annotation, Label, LabelSchema, Prediction

DEFAULT_SCHEMA_NAME = "Label"


class LabelImport:
    """The LabelWriter of the corpus ingest: checks the file's labels against a schema of the
    dataset, adds the missing ones or reports them, then writes annotations and predictions."""

    def __init__(self, *, schema: LabelSchema | None = None, add_missing_labels: bool = True) -> None:
        self.schema = schema
        self.add_missing_labels = add_missing_labels

    def check(self, staged: StagedImport) -> None:
        result, cursor, table = staged.result, staged.cursor, staged.table
        label_field = staged.mapping.label_field or "label"
        schema = self._schema_for(staged)
        if schema is None:
            return
        if schema.kind == LabelSchema.Kind.SINGLE:
            cursor.execute(
                f"""
                SELECT source_row, jsonb_array_length(labels), count(*) OVER () FROM {table}
                 WHERE labels IS NOT NULL AND jsonb_array_length(labels) > 1 ORDER BY source_row LIMIT 100
                """  # noqa: S608 (table: our own generated name)
            )
            found = cursor.fetchall()
            for number, count, _total in found:
                result.add_error(
                    staged.location(number),
                    label_field,
                    f"the schema “{schema.name}” takes one label; the row has {count}",
                )
            if found:
                result.error_count += found[0][2] - len(found)
        cursor.execute(
            f"""
            SELECT DISTINCT name FROM (
                SELECT jsonb_array_elements_text(labels) AS name FROM {table} WHERE labels IS NOT NULL
                UNION ALL
                SELECT jsonb_array_elements(predictions) ->> 'label' FROM {table} WHERE predictions IS NOT NULL
            ) AS names
            WHERE name NOT IN (SELECT name FROM labeling_label WHERE schema_id = %s)
            ORDER BY name
            """,  # noqa: S608
            [schema.pk],
        )
        missing = [name for (name,) in cursor.fetchall()]
        if not missing:
            return
        if self.add_missing_labels:
            start = (schema.labels.aggregate(top=Max("order"))["top"] or 0) + 1
            Label.objects.bulk_create(
                [Label(schema=schema, name=name, order=start + i) for i, name in enumerate(missing)]
            )
            result.labels_added = missing
            return
        cursor.execute(
            f"""
            SELECT source_row, field, name, count(*) OVER () FROM (
                SELECT source_row, %s AS field, jsonb_array_elements_text(labels) AS name
                  FROM {table} WHERE labels IS NOT NULL
                UNION ALL
                SELECT source_row, 'predictions', jsonb_array_elements(predictions) ->> 'label'
                  FROM {table} WHERE predictions IS NOT NULL
            ) AS names
            WHERE name = ANY(%s) ORDER BY source_row LIMIT 100
            """,  # noqa: S608
            [label_field, missing],
        )
        found = cursor.fetchall()
        for number, field, name, _total in found:
            result.add_error(staged.location(number), field, f"the label “{name}” is not in the schema “{schema.name}”")
        if found:
            result.error_count += found[0][3] - len(found)

    def _schema_for(self, staged: StagedImport) -> LabelSchema | None:
        """The schema given, else the dataset's only one, else a new one named “Label”."""
        if self.schema is not None:
            if self.schema.dataset_id != staged.dataset.pk:
                staged.result.add_error("file", "", f"the schema “{self.schema.name}” belongs to another dataset")
                return None
            return self.schema
        schemas = list(LabelSchema.objects.filter(dataset=staged.dataset))
        if len(schemas) == 1:
            self.schema = schemas[0]
        elif not schemas:
            staged.cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {staged.table} WHERE jsonb_array_length(labels) > 1)"  # noqa: S608
            )
            (multi,) = staged.cursor.fetchone()
            self.schema = LabelSchema.objects.create(
                dataset=staged.dataset,
                name=DEFAULT_SCHEMA_NAME,
                kind=LabelSchema.Kind.MULTI if multi else LabelSchema.Kind.SINGLE,
            )
        else:
            names = ", ".join(schema.name for schema in schemas)
            staged.result.add_error(
                "file",
                staged.mapping.label_field or "label",
                f"the dataset has several label schemas ({names}); choose the one these labels belong to",
            )
            return None
        return self.schema

    def write(self, staged: StagedImport) -> None:
        schema = self.schema
        if schema is None:
            return
        cursor, table, dataset_id = staged.cursor, staged.table, staged.dataset.pk
        # The first row of each text decides its labels (later equal texts were duplicates); a
        # record that already has an imported answer for this schema keeps it.
        cursor.execute(
            f"""
            WITH source AS (
                SELECT DISTINCT ON (r.id) r.id AS record_id, s.labels
                  FROM {table} s JOIN corpus_record r ON r.dataset_id = %s AND r.content_hash = s.content_hash
                 WHERE s.labels IS NOT NULL
                 ORDER BY r.id, s.source_row
            ), annotations AS (
                INSERT INTO {Annotation._meta.db_table}
                       (record_id, schema_id, annotator_id, source, seconds_spent, created_at, updated_at)
                SELECT record_id, %s, NULL, %s, NULL, now(), now() FROM source
                ON CONFLICT DO NOTHING
                RETURNING id, record_id
            ), links AS (
                INSERT INTO {Annotation.labels.through._meta.db_table} (annotation_id, label_id)
                SELECT DISTINCT a.id, l.id
                  FROM annotations a JOIN source USING (record_id)
                 CROSS JOIN LATERAL jsonb_array_elements_text(source.labels) AS n(name)
                  JOIN {Label._meta.db_table} l ON l.schema_id = %s AND l.name = n.name
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM annotations), (SELECT count(*) FROM links)
            """,  # noqa: S608
            [dataset_id, schema.pk, Annotation.Source.IMPORTED, schema.pk],
        )
        staged.result.annotations = cursor.fetchone()[0]
        cursor.execute(
            f"""
            INSERT INTO {Prediction._meta.db_table}
                   (record_id, schema_id, label_id, score, source, model_version, classifier_id, created_at)
            SELECT DISTINCT ON (r.id, l.id, p.model_version) r.id, %s, l.id, p.score, %s, p.model_version, NULL, now()
              FROM {table} s
              JOIN corpus_record r ON r.dataset_id = %s AND r.content_hash = s.content_hash
             CROSS JOIN LATERAL jsonb_to_recordset(s.predictions) AS p(label text, score float8, model_version text)
              JOIN {Label._meta.db_table} l ON l.schema_id = %s AND l.name = p.label
             WHERE s.predictions IS NOT NULL
             ORDER BY r.id, l.id, p.model_version, p.score DESC NULLS LAST, s.source_row
            ON CONFLICT DO NOTHING
            """,  # noqa: S608
            [schema.pk, Prediction.Source.IMPORTED, dataset_id, schema.pk],
        )
        staged.result.predictions = cursor.rowcount


def import_labeled(
    *,
    dataset: Dataset,
    source: BinaryIO,
    filename: str,
    user=None,
    fmt: str | None = None,
    text_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    label_names: tuple[str, ...] = (),
    encoding: str | None = None,
    schema: LabelSchema | None = None,
    add_missing_labels: bool = True,
    progress=None,
) -> ImportResult:
    """Import the records of a file with the labels and predictions it carries, all or nothing.
    Labels missing from the schema are added (`add_missing_labels`) or reported as errors."""
    return import_records(
        dataset=dataset,
        source=source,
        filename=filename,
        fmt=fmt,
        text_field=text_field,
        id_field=id_field,
        label_field=label_field,
        label_names=label_names,
        user=user,
        encoding=encoding,
        label_writer=LabelImport(schema=schema, add_missing_labels=add_missing_labels),
        progress=progress,
    )


def _label_import_for(*, schema_id: int | None = None, add_missing_labels: bool = True) -> LabelImport:
    schema = LabelSchema.objects.get(pk=schema_id) if schema_id else None
    return LabelImport(schema=schema, add_missing_labels=add_missing_labels)


# The corpus entry points (import command, upload page, import job) write labels through this.
register_label_writer(_label_import_for)

__all__ = ["LabelImport", "import_labeled"]
