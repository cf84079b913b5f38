"""What a row means: which field is the text, the external id, the labels, the predictions, and what
goes to meta. One shape per tool whose exports people bring (doccano, Label Studio, Argilla,
Prodigy, Hugging Face) plus the plain table. Shapes are pure: rows in, parsed rows out; writing
labels is the labeling app's work."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

PLAIN = "plain"
DOCCANO = "doccano"
LABEL_STUDIO = "labelstudio"
ARGILLA = "argilla"
PRODIGY = "prodigy"
HUGGINGFACE = "huggingface"
SHAPES = [PLAIN, DOCCANO, LABEL_STUDIO, ARGILLA, PRODIGY, HUGGINGFACE]

TEXT_FIELDS = ["text", "content", "sentence", "body"]
ID_FIELDS = ["id", "external_id", "uid"]
LABEL_FIELDS = ["label", "labels", "label_text", "category", "class"]
MAX_LABEL_CHARS = 100  # Label.name
MAX_ID_CHARS = 255  # Record.external_id


class RowProblem(Exception):
    """A row that does not fit its shape: the field and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(slots=True)
class ParsedRow:
    text: str
    external_id: str = ""
    meta: dict = field(default_factory=dict)
    labels: list[str] | None = None
    # {"label": str, "score": float | None, "model_version": str}
    predictions: list[dict] | None = None


@dataclass(frozen=True)
class Mapping:
    """The columns a preview shows: which field is what. Meta gets every other field."""

    shape: str
    text_field: str
    id_field: str = ""
    label_field: str = ""
    label_names: tuple[str, ...] = ()  # Hugging Face: class index -> name

    def describe(self) -> dict:
        """Where each part of a record comes from, in the file's own terms (for the preview)."""
        text, label, predictions = self.text_field, self.label_field or None, None
        if self.shape == LABEL_STUDIO:
            text, label = f"data.{text}", "annotations[].result[].value.choices (not cancelled)"
            predictions = "predictions[].result[].value.choices, score, model_version"
        elif self.shape == ARGILLA:
            text, label = f"fields.{text}", f"responses[].values.{self.label_field or '(first question)'} (submitted)"
            predictions = "suggestions[].value, score, agent"
        elif self.shape == PRODIGY:
            label = "label, or accept[] (when answer is accept)"
        return {
            "shape": self.shape,
            "text": text,
            "id": self.id_field or None,
            "label": label,
            "predictions": predictions,
        }


def detect_shape(row: dict) -> str:
    """The tool a row of JSON comes from, by the keys only that tool writes."""
    if isinstance(row.get("data"), dict) and ("annotations" in row or "predictions" in row or "text" in row["data"]):
        return LABEL_STUDIO
    if isinstance(row.get("fields"), dict):
        return ARGILLA
    if "answer" in row and ("_input_hash" in row or "_task_hash" in row or "accept" in row or "label" in row):
        return PRODIGY
    if "label_text" in row or ("text" in row and type(row.get("label")) is int):
        return HUGGINGFACE
    if "text" in row and isinstance(row.get("label"), list):
        return DOCCANO
    return PLAIN


def _first_present(candidates: list[str], keys) -> str:
    return next((name for name in candidates if name in keys), "")


def default_mapping(
    *,
    shape: str,
    keys: list[str],
    text_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    label_names: tuple[str, ...] = (),
) -> Mapping:
    """The mapping for a shape given the first row's keys (or a table's columns), with what the
    person chose taking precedence."""
    if shape in {LABEL_STUDIO, ARGILLA}:
        return Mapping(shape, text_field or "text", id_field or "id", label_field or "", label_names)
    if shape == HUGGINGFACE:
        chosen_label = label_field or ("label_text" if "label_text" in keys else "label")
        return Mapping(
            shape, text_field or "text", id_field or _first_present(ID_FIELDS, keys), chosen_label, label_names
        )
    if shape in {DOCCANO, PRODIGY}:
        return Mapping(shape, text_field or "text", id_field or _first_present(ID_FIELDS, keys), "label", label_names)
    return Mapping(
        shape,
        text_field or _first_present(TEXT_FIELDS, keys),
        id_field if id_field is not None else _first_present(ID_FIELDS, keys),
        label_field if label_field is not None else _first_present(LABEL_FIELDS, keys),
        label_names,
    )


# --- value helpers ---------------------------------------------------------------------------


def _text(value, name: str) -> str:
    if value is None:
        raise RowProblem(name, "missing")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RowProblem(name, f"expected text, got a JSON {type(value).__name__}")


def _external_id(value, name: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowProblem(name, f"expected a string or number, got a JSON {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_ID_CHARS:
        raise RowProblem(name, f"the id is longer than {MAX_ID_CHARS} characters")
    return text


def _label_name(value, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowProblem(name, f"expected a label name, got a JSON {type(value).__name__}")
    label = str(value).strip()
    if not label:
        raise RowProblem(name, "the label is empty")
    if len(label) > MAX_LABEL_CHARS:
        raise RowProblem(name, f"the label is longer than {MAX_LABEL_CHARS} characters")
    return label


def _labels(value, name: str) -> list[str] | None:
    if value is None or value in ("", []):
        return None
    if isinstance(value, list):
        return [_label_name(item, name) for item in value]
    return [_label_name(value, name)]


def _score(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowProblem(name, f"the score must be a number, got {value!r}")
    if not 0 <= value <= 1:
        raise RowProblem(name, f"the score {value} is not between 0 and 1")
    return float(value)


def _rest(row: dict, used: set[str]) -> dict:
    return {key: value for key, value in row.items() if key not in used}


# --- one parser per shape --------------------------------------------------------------------


def parse_plain(row: dict, mapping: Mapping) -> ParsedRow:
    text_field, id_field, label_field = mapping.text_field, mapping.id_field, mapping.label_field
    if text_field not in row:
        raise RowProblem(text_field, "missing")
    return ParsedRow(
        text=_text(row[text_field], text_field),
        external_id=_external_id(row.get(id_field), id_field) if id_field else "",
        meta={key: value for key, value in row.items() if key not in {text_field, id_field, label_field}},
        labels=_labels(row.get(label_field), label_field) if label_field else None,
    )


def parse_doccano(row: dict, mapping: Mapping) -> ParsedRow:
    labels = row.get("label", row.get("labels"))
    if isinstance(labels, list) and any(isinstance(item, list) for item in labels):
        raise RowProblem("label", "span labels ([start, end, label]) are not supported; expected label names")
    parsed = parse_plain(row, Mapping(PLAIN, mapping.text_field, mapping.id_field, "label"))
    parsed.labels = _labels(labels, "label")
    parsed.meta.pop("labels", None)
    return parsed


def _choices(results, name: str) -> list[str]:
    labels: list[str] = []
    for result in results or []:
        if not isinstance(result, dict):
            raise RowProblem(name, "expected an object in “result”")
        choices = (result.get("value") or {}).get("choices")
        if choices is not None:
            labels.extend(_labels(choices, f"{name}.value.choices") or [])
    return labels


def parse_label_studio(row: dict, mapping: Mapping) -> ParsedRow:
    data = row.get("data")
    if not isinstance(data, dict):
        raise RowProblem("data", "missing or not an object")
    text_field = mapping.text_field
    if text_field not in data:
        raise RowProblem(f"data.{text_field}", "missing")
    meta = {key: value for key, value in data.items() if key != text_field}
    if row.get("meta"):
        meta["meta"] = row["meta"]
    labels = None
    # The last annotation that was not cancelled is the one the project ended with.
    for index, annotation in enumerate(row.get("annotations") or []):
        if not isinstance(annotation, dict):
            raise RowProblem(f"annotations[{index}]", "expected an object")
        if annotation.get("was_cancelled"):
            continue
        labels = _choices(annotation.get("result"), f"annotations[{index}].result") or labels
    predictions = []
    for index, prediction in enumerate(row.get("predictions") or []):
        if not isinstance(prediction, dict):
            raise RowProblem(f"predictions[{index}]", "expected an object")
        version = str(prediction.get("model_version") or "Label Studio import")[:200]
        for result in prediction.get("result") or []:
            score_value = result.get("score", prediction.get("score")) if isinstance(result, dict) else None
            score = _score(score_value, f"predictions[{index}].score")
            for label in _choices([result], f"predictions[{index}].result"):
                predictions.append({"label": label, "score": score, "model_version": version})
    return ParsedRow(
        text=_text(data[text_field], f"data.{text_field}"),
        external_id=_external_id(row.get(mapping.id_field), mapping.id_field),
        meta=meta,
        labels=labels or None,
        predictions=predictions or None,
    )


def _argilla_value(values: dict, question: str):
    answer = values.get(question)
    return answer.get("value") if isinstance(answer, dict) else answer


def parse_argilla(row: dict, mapping: Mapping) -> ParsedRow:
    fields = row.get("fields")
    if not isinstance(fields, dict):
        raise RowProblem("fields", "missing or not an object")
    text_field = mapping.text_field
    if text_field not in fields:
        raise RowProblem(f"fields.{text_field}", "missing")
    meta = dict(row.get("metadata") or {})
    meta.update({key: value for key, value in fields.items() if key != text_field})
    question = mapping.label_field
    labels = None
    for index, response in enumerate(row.get("responses") or []):
        if not isinstance(response, dict):
            raise RowProblem(f"responses[{index}]", "expected an object")
        if response.get("status", "submitted") != "submitted":
            continue
        values = response.get("values") or {}
        name = question or next(iter(values), "")
        if name:
            labels = _labels(_argilla_value(values, name), f"responses[{index}].values.{name}")
            if labels:
                break  # the first submitted answer
    predictions = []
    for index, suggestion in enumerate(row.get("suggestions") or []):
        if not isinstance(suggestion, dict):
            raise RowProblem(f"suggestions[{index}]", "expected an object")
        if question and suggestion.get("question_name", question) != question:
            continue
        names = _labels(suggestion.get("value"), f"suggestions[{index}].value") or []
        scores = suggestion.get("score")
        scores = scores if isinstance(scores, list) else [scores] * len(names)
        version = str(suggestion.get("agent") or "Argilla import")[:200]
        for name, score in zip(names, scores, strict=False):
            predictions.append(
                {"label": name, "score": _score(score, f"suggestions[{index}].score"), "model_version": version}
            )
    external = row.get(mapping.id_field) if mapping.id_field in row else row.get("external_id")
    return ParsedRow(
        text=_text(fields[text_field], f"fields.{text_field}"),
        external_id=_external_id(external, mapping.id_field),
        meta=meta,
        labels=labels,
        predictions=predictions or None,
    )


def parse_prodigy(row: dict, mapping: Mapping) -> ParsedRow:
    text_field = mapping.text_field
    if text_field not in row:
        raise RowProblem(text_field, "missing")
    answer = row.get("answer")
    labels = None
    if answer == "accept":
        # Choice tasks list the accepted options; binary tasks carry one label.
        labels = _labels(row["accept"], "accept") if row.get("accept") else _labels(row.get("label"), "label")
    meta = dict(row.get("meta") or {}) if isinstance(row.get("meta"), dict) else {}
    meta["answer"] = answer
    id_field = mapping.id_field
    external = row.get(id_field) if id_field else meta.get("id")
    return ParsedRow(
        text=_text(row[text_field], text_field),
        external_id=_external_id(external, id_field or "meta.id"),
        meta=meta,
        labels=labels,
    )


def parse_huggingface(row: dict, mapping: Mapping) -> ParsedRow:
    text_field = mapping.text_field
    if text_field not in row:
        raise RowProblem(text_field, "missing")
    label_field = mapping.label_field
    value = row.get(label_field)
    is_index = type(value) is int or (isinstance(value, str) and value.isdigit() and bool(mapping.label_names))
    if label_field == "label" and is_index:
        index = int(value)
        if not mapping.label_names:
            raise RowProblem(label_field, f"class index {index} but no label names were given")
        if not 0 <= index < len(mapping.label_names):
            raise RowProblem(label_field, f"class index {index} is outside the {len(mapping.label_names)} label names")
        value = mapping.label_names[index]
    return ParsedRow(
        text=_text(row[text_field], text_field),
        external_id=_external_id(row.get(mapping.id_field), mapping.id_field) if mapping.id_field else "",
        meta=_rest(row, {text_field, mapping.id_field, "label", "label_text"}),
        labels=_labels(value, label_field),
    )


PARSERS: dict[str, Callable[[dict, Mapping], ParsedRow]] = {
    PLAIN: parse_plain,
    DOCCANO: parse_doccano,
    LABEL_STUDIO: parse_label_studio,
    ARGILLA: parse_argilla,
    PRODIGY: parse_prodigy,
    HUGGINGFACE: parse_huggingface,
}


_encode_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def meta_json(meta: dict) -> str:
    """Meta as JSON text for the database; anything JSON cannot say is a problem of that field."""
    try:
        return _encode_json(meta)
    except (TypeError, ValueError) as exc:
        for key, value in meta.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise RowProblem(key, f"cannot be stored as JSON ({exc})") from None
        raise RowProblem("meta", f"cannot be stored as JSON ({exc})") from None
