"""The shop's HTTP API: order, payment and inventory services behind a small Flask app."""
