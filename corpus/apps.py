from django.apps import AppConfig


class CorpusConfig(AppConfig):
    name = "corpus"
    verbose_name = "Corpus"

    def ready(self) -> None:
        # The jobs app knows no app: each app registers the handlers of the work it owns.
        from corpus.services import embed, import_job  # noqa: F401
