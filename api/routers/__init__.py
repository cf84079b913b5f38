"""One ninja Router per area of the API, mounted by api/api.py."""
