"""The HTTP routes as Chalice blueprints, one module per concern; app.py registers them (the only chalice
importers in chalicelib: adapters from HTTP to the domain)."""
