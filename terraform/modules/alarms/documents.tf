# The throttle alarm's metric math, as plain locals: the offline tests render it with Terraform
# itself (tests/infrastructure/test_rendered_documents.py) and check that the expression sums
# exactly the queried metrics, with ids CloudWatch accepts.
locals {
  throttle_metrics = [
    for i, pair in setproduct(values(var.table_names), ["ReadThrottleEvents", "WriteThrottleEvents"]) :
    { id = "m${i}", table = pair[0], metric = pair[1] }
  ]
  throttle_expression = "SUM([${join(",", [for metric in local.throttle_metrics : metric.id])}])"
}
