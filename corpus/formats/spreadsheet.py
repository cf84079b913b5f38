"""Cells a spreadsheet would run as formulas: escaped on the way out, never in the database."""

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets; "=HYPERLINK(...)" in an exported label description is an attack on whoever
# opens the file.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """Prefix a text cell that a spreadsheet would evaluate with an apostrophe, which spreadsheets
    show as plain text. Anything that is not text passes through unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
