"""Offline checks of a packaged stage (`make verify`, and make test): every Terraform argument against the
AWS provider's schema (provider_schema, schema_check, provider_deprecations), and every handler of the
Lambda zip invoked in a clean copy of the Lambda Python runtime (lambda_check and its helpers)."""
