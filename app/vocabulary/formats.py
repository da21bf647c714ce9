"""The wire formats' constants shared by the server and the client."""

NDJSON_MEDIA_TYPE = "application/x-ndjson"

# OWASP's CSV-injection guidance: a spreadsheet runs a cell that begins with one of these as a
# formula (=HYPERLINK(...), =cmd|...). The CSV export puts a ' before them; an import with
# ``unescape_formulas`` takes it off again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
