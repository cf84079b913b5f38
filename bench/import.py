"""Import speed and memory: Tally's import_records against django-import-export's default import.

Generates CSV and JSON Lines files of distinct real texts (WordNet glosses from Debian's
`wordnet-base`, joined into sentence windows), imports them end to end (parse, validate, hash,
dedupe, COPY, INSERT) into a fresh dataset of a database of its own (tally_bench_import, dropped
at the end), and imports a sample of the same CSV with a plain django-import-export Resource in
the same run. Prints rows/s and the ratio. `--peak-rows 1000000` also measures the peak RSS of a
child process importing a file of that many rows.

    .venv/bin/python bench/import.py [--rows 100000] [--baseline-rows 3000] [--peak-rows 1000000]
"""

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401  # before anything of the project: see bench/_bootstrap.py

WORDNET = Path("/usr/share/wordnet")
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition", "verb.consumption",
    "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
    "verb.social", "verb.stative", "verb.weather", "adj.ppl",
]  # fmt: skip


def wordnet_pieces() -> list[tuple[str, str]]:
    """(clause of a gloss, its lexicographer class), in file order."""
    if not (WORDNET / "data.noun").exists():
        sys.exit("WordNet is missing: apt-get install -y wordnet-base")
    pieces = []
    for part in ("noun", "verb", "adj", "adv"):
        with (WORDNET / f"data.{part}").open(encoding="latin-1") as lines:
            for line in lines:
                if line.startswith(" ") or "|" not in line:
                    continue
                lexname = LEXNAMES[int(line.split(" ", 2)[1])]
                gloss = line.split("|", 1)[1].strip()
                for clause in re.split(r";\s+", gloss):
                    if clause:
                        pieces.append((clause, lexname))
    return pieces


def distinct_rows(count: int):
    """Sentence windows of growing width over the clauses: every text distinct, all real text."""
    pieces = wordnet_pieces()
    seen = set()
    produced = 0
    width = 1
    while produced < count:
        for start in range(len(pieces) - width + 1):
            window = pieces[start : start + width]
            text = " ".join(clause for clause, _ in window)
            if text in seen:
                continue
            seen.add(text)
            produced += 1
            yield produced, text, window[0][1]
            if produced >= count:
                return
        width += 1


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    csv_path, jsonl_path = folder / f"wordnet-{rows}.csv", folder / f"wordnet-{rows}.jsonl"
    with csv_path.open("w", newline="", encoding="utf-8") as csv_file, jsonl_path.open("w", encoding="utf-8") as jl:
        writer = csv.writer(csv_file)
        writer.writerow(["id", "text", "lexname"])
        for number, text, lexname in distinct_rows(rows):
            writer.writerow([f"wn-{number}", text, lexname])
            jl.write(json.dumps({"id": f"wn-{number}", "text": text, "lexname": lexname}, ensure_ascii=False) + "\n")
    return csv_path, jsonl_path


BENCH_DATABASE = "tally_bench_import"


def setup_django(*, child: bool = False) -> Path | None:
    """A fresh, migrated database of this bench's own on the embedded server (never the
    development data); the peak-RSS child joins the one its parent made. Returns the socket
    folder, for dropping the database at the end (None in the child)."""
    if child:
        import django
        from django.conf import settings

        settings.DATABASES["default"]["NAME"] = BENCH_DATABASE
        django.setup()
        return None
    from django.core.management import call_command

    from bench.harness import setup_django as own_database

    socket_dir = own_database(database=BENCH_DATABASE, script="bench/import.py")
    call_command("migrate", verbosity=0)
    return socket_dir


def peak_rss_mb() -> float:
    """Peak RSS of this process image. Not getrusage's ru_maxrss: across fork + exec Linux carries
    the parent's high-water mark into the child's, so a child would report the parent's peak."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drop_dataset(dataset) -> None:
    """In SQL: Django's delete() would load every record of the cascade into memory."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM corpus_record WHERE dataset_id = %s", [dataset.pk])
    dataset.delete()


def tally_import(path: Path, dataset_name: str) -> tuple[float, object, float]:
    """Seconds, result, and peak RSS (MB) of this process after the import."""
    from corpus.models import Dataset
    from corpus.services.ingest import import_records

    dataset = Dataset.objects.create(name=dataset_name)
    try:
        started = time.perf_counter()
        with path.open("rb") as source:
            result = import_records(dataset=dataset, source=source, filename=path.name)
        elapsed = time.perf_counter() - started
        peak_mb = peak_rss_mb()
        assert result.ok, result.errors[:5]
        assert result.inserted == result.read, (result.inserted, result.read)
        return elapsed, result, peak_mb
    finally:
        drop_dataset(dataset)


def import_export_import(path: Path, rows: int, dataset_name: str) -> float:
    """django-import-export's default import (ModelResource.import_data) of the first `rows` rows."""
    import tablib
    from import_export import fields, resources

    from corpus.models import Dataset, Record
    from corpus.text import content_hash

    dataset = Dataset.objects.create(name=dataset_name)

    class RecordResource(resources.ModelResource):
        external_id = fields.Field(attribute="external_id", column_name="id")

        class Meta:
            model = Record
            fields = ["external_id", "text"]
            import_id_fields = ["external_id"]

        def before_save_instance(self, instance, row, **kwargs):
            instance.dataset = dataset
            instance.content_hash = content_hash(instance.text)
            instance.meta = {"lexname": row["lexname"]}

    with path.open(encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        data = tablib.Dataset(headers=header)
        for _, row in zip(range(rows), reader, strict=False):
            data.append(row)
    try:
        started = time.perf_counter()
        result = RecordResource().import_data(data, dry_run=False, raise_errors=True)
        elapsed = time.perf_counter() - started
        assert not result.has_errors()
        assert Record.objects.filter(dataset=dataset).count() == rows
        return elapsed
    finally:
        drop_dataset(dataset)


def peak_rss_child(path: Path) -> None:
    """Runs in a child: import the file and print the peak RSS of this process in MB."""
    setup_django(child=True)
    elapsed, result, peak_mb = tally_import(path, f"bench import peak {os.getpid()}")
    print(json.dumps({"rows": result.inserted, "seconds": elapsed, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=3_000)
    parser.add_argument("--peak-rows", type=int, default=0, help="also measure peak RSS at this many rows")
    parser.add_argument("--peak-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_child:
        peak_rss_child(args.peak_child)
        return

    socket_dir = setup_django()
    try:
        run(args)
    finally:
        from django.db import connections

        from bench.harness import drop_database

        connections.close_all()
        drop_database(socket_dir, BENCH_DATABASE)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tally-bench-") as folder:
        started = time.perf_counter()
        csv_path, jsonl_path = write_files(Path(folder), args.rows)
        print(
            f"generated {args.rows:,} distinct WordNet texts as CSV and JSONL in {time.perf_counter() - started:.1f} s"
        )

        baseline_seconds = import_export_import(csv_path, args.baseline_rows, f"bench import-export {os.getpid()}")
        baseline = args.baseline_rows / baseline_seconds
        print(f"django-import-export: {args.baseline_rows:,} rows in {baseline_seconds:.2f} s = {baseline:,.0f} rows/s")

        for path in (csv_path, jsonl_path):
            seconds, result, _ = tally_import(path, f"bench import {path.suffix} {os.getpid()}")
            rate = result.inserted / seconds
            print(
                f"import ({path.suffix[1:]}): {result.inserted:,} rows in {seconds:.2f} s = {rate:,.0f} rows/s "
                f"= {rate / baseline:,.0f}x django-import-export ({baseline:,.0f} rows/s) in this run"
            )

        if args.peak_rows:
            started = time.perf_counter()
            big_csv, big_jsonl = write_files(Path(folder), args.peak_rows)
            big_jsonl.unlink()
            print(f"generated {args.peak_rows:,} rows in {time.perf_counter() - started:.1f} s")
            child = subprocess.run(
                [sys.executable, __file__, "--peak-child", str(big_csv)], capture_output=True, text=True, check=True
            )
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"peak RSS importing {figures['rows']:,} rows (csv): {figures['peak_mb']:.0f} MB "
                f"({figures['rows'] / figures['seconds']:,.0f} rows/s)"
            )


if __name__ == "__main__":
    main()
