from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        # The jobs app knows no app: each app registers the handlers of the work it owns.
        # Labels in imported files are written by labeling; the corpus ingest finds the writer here.
        from labeling.services import (
            classify,  # noqa: F401
            export,  # noqa: F401
            import_labeled,  # noqa: F401
        )
