# The 5xx alarm's metric math, as plain locals: the offline tests render it with Terraform itself
# (tests/infrastructure/test_rendered_documents.py) and check that the expression reads exactly the
# queried metrics, with ids CloudWatch accepts.
locals {
  api_5xx_metric_ids = ["collector", "rest"]
  api_5xx_expression = "MAX([${join(", ", local.api_5xx_metric_ids)}])"
}
