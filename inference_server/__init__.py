"""Tally's inference service: inference_client's local model over HTTP, for teams that run the
model on machines of its own. Imports only inference_client, never Django."""
