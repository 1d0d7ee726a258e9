# The operators' dashboard: the guide's metrics first (Lambda Duration, Errors, Invocations;
# LiveInsight EventsProcessed, ProcessingTime, ProcessingErrors), then the API, DynamoDB and the
# visitors' side (sessions, page views).
locals {
  api            = var.function_names.api
  tables         = values(var.table_names)
  own            = ["Environment", var.metrics_environment]
  api_dims       = ["ApiName", var.api_name, "Stage", var.api_stage]
  collector_dims = ["ApiId", var.collector_api_id, "Stage", var.api_stage]
  dashboard      = "${var.name_prefix}Operations"

  # An object, not a map: each widget's metric list has its own shape.
  widget = {
    lambda_duration = { title = "Lambda Duration (ms): ${local.api}", stat = "Average", metrics = [
      ["AWS/Lambda", "Duration", "FunctionName", local.api, { stat = "Average" }],
      ["...", { stat = "p99" }],
    ] }
    lambda_errors = { title = "Lambda Errors", stat = "Sum", metrics = [
      ["AWS/Lambda", "Errors", "FunctionName", local.api],
      ["AWS/Lambda", "Errors", "FunctionName", var.function_names.expiry],
      ["AWS/Lambda", "Errors", "FunctionName", var.function_names.rollup],
    ] }
    lambda_invocations = { title = "Lambda Invocations and Throttles", stat = "Sum", metrics = [
      ["AWS/Lambda", "Invocations", "FunctionName", local.api],
      ["AWS/Lambda", "Throttles", "FunctionName", local.api],
    ] }
    events_processed = { title = "LiveInsight EventsProcessed", stat = "Sum", metrics = [
      concat(["LiveInsight", "EventsProcessed"], local.own),
    ] }
    processing_time = { title = "LiveInsight ProcessingTime (ms)", stat = "Average", metrics = [
      concat(["LiveInsight", "ProcessingTime"], local.own, [{ stat = "Average" }]),
      concat(["LiveInsight", "ProcessingTime"], local.own, [{ stat = "p99" }]),
    ] }
    processing_errors = { title = "LiveInsight ProcessingErrors", stat = "Sum", metrics = [
      concat(["LiveInsight", "ProcessingErrors"], local.own),
    ] }
    api_latency = { title = "API latency (ms): collector and REST API", stat = "p50", metrics = [
      concat(["AWS/ApiGateway", "Latency"], local.collector_dims, [{ stat = "p50", label = "collector p50" }]),
      concat(["AWS/ApiGateway", "Latency"], local.collector_dims, [{ stat = "p99", label = "collector p99" }]),
      concat(["AWS/ApiGateway", "Latency"], local.api_dims, [{ stat = "p50", label = "REST p50" }]),
      concat(["AWS/ApiGateway", "Latency"], local.api_dims, [{ stat = "p99", label = "REST p99" }]),
    ] }
    api_errors = { title = "API 4XX and 5XX: collector and REST API", stat = "Sum", metrics = [
      concat(["AWS/ApiGateway", "4xx"], local.collector_dims, [{ label = "collector 4xx" }]),
      concat(["AWS/ApiGateway", "5xx"], local.collector_dims, [{ label = "collector 5xx" }]),
      concat(["AWS/ApiGateway", "4XXError"], local.api_dims, [{ label = "REST 4XX" }]),
      concat(["AWS/ApiGateway", "5XXError"], local.api_dims, [{ label = "REST 5XX" }]),
    ] }
    dynamodb_throttles = { title = "DynamoDB throttled requests", stat = "Sum", metrics = concat([
      for table in local.tables : ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", table]
      ], [
      for table in local.tables : ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", table]
      ], [
      concat(["LiveInsight", "DynamoDBThrottles"], local.own, [{ label = "as the functions saw them (the alarm's)" }]),
    ]) }
    dynamodb_capacity = { title = "DynamoDB consumed capacity units", stat = "Sum", metrics = concat([
      for table in local.tables : ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", table]
      ], [
      for table in local.tables : ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", table]
    ]) }
    sessions = { title = "Sessions started and ended; expiry backlog", stat = "Sum", metrics = [
      concat(["LiveInsight", "SessionsStarted"], local.own),
      concat(["LiveInsight", "SessionsEnded"], local.own),
      concat(["LiveInsight", "BouncedSessions"], local.own),
      concat(["LiveInsight", "ExpiryBacklog"], local.own, [{ stat = "Maximum", id = "backlog", visible = false }]),
      # printed only when not 0 (chalicelib/core/metrics.py): a minute without it had no backlog
      [{ expression = "FILL(backlog, 0)", id = "backlog_or_0", label = "ExpiryBacklog" }],
    ] }
    page_views = { title = "Page views and active visitors (all sites)", stat = "Sum", metrics = [
      [{ expression = "SEARCH('{LiveInsight,Environment,Site} MetricName=\"PageViews\" Environment=\"${var.metrics_environment}\"', 'Sum', 300)", id = "pv", label = "PageViews" }],
      # ActiveVisitors is printed only when not 0: a site's missing minute had no visitors
      [{ expression = "FILL(SEARCH('{LiveInsight,Environment,Site} MetricName=\"ActiveVisitors\" Environment=\"${var.metrics_environment}\"', 'Maximum', 300), 0)", id = "av", label = "ActiveVisitors" }],
    ] }
    # Both consumers of the Events stream: how far each is behind (their IteratorAge alarms').
    lake_freshness = { title = "Events stream: IteratorAge (ms) of the lake writer and statistics aggregator; lake write delay (s)", stat = "Maximum", metrics = [
      ["AWS/Lambda", "IteratorAge", "FunctionName", var.function_names.lake_writer, { stat = "Maximum" }],
      ["AWS/Lambda", "IteratorAge", "FunctionName", var.function_names.stats_aggregator, { stat = "Maximum" }],
      concat(["LiveInsight", "LakeWriteDelay"], local.own, [{ stat = "Maximum", yAxis = "right" }]),
    ] }
    lake_writes = { title = "Event lake: rows written, dead letters, objects compacted", stat = "Sum", metrics = [
      concat(["LiveInsight", "LakeEventsWritten"], local.own),
      concat(["LiveInsight", "LakeDeadLetters"], local.own),
      concat(["LiveInsight", "LakeObjectsCompacted"], local.own),
    ] }
    lake_functions = { title = "Events stream and lake functions: errors", stat = "Sum", metrics = [
      ["AWS/Lambda", "Errors", "FunctionName", var.function_names.stats_aggregator],
      ["AWS/Lambda", "Errors", "FunctionName", var.function_names.lake_writer],
      ["AWS/Lambda", "Errors", "FunctionName", var.function_names.lake_compaction],
      ["AWS/Lambda", "Errors", "FunctionName", var.function_names.lake_query],
      ["AWS/Lambda", "Errors", "FunctionName", var.function_names.lake_erasure],
    ] }
    lake_query_bytes = { title = "Event lake: bytes read per engine", stat = "Sum", metrics = [
      [{ expression = "SEARCH('{LiveInsight,Engine,Environment} MetricName=\"LakeQueryBytes\" Environment=\"${var.metrics_environment}\"', 'Sum', 300)", id = "qb", label = "LakeQueryBytes" }],
    ] }
    rate_limited = { title = "Events refused by the limit per minute, per site", stat = "Sum", metrics = [
      [{ expression = "SEARCH('{LiveInsight,Environment,Reason,Site} MetricName=\"EventsRejected\" Reason=\"RateLimited\" Environment=\"${var.metrics_environment}\"', 'Sum', 300)", id = "rl", label = "RateLimited" }],
    ] }
  }
  order = [
    "lambda_duration", "lambda_errors", "lambda_invocations", "events_processed", "processing_time",
    "processing_errors", "api_latency", "api_errors", "dynamodb_throttles", "dynamodb_capacity", "sessions",
    "page_views", "rate_limited", "lake_freshness", "lake_writes", "lake_functions", "lake_query_bytes",
  ]

  # The body PutDashboard receives: tests/infrastructure/test_rendered_documents.py renders it.
  dashboard_body = jsonencode({
    widgets = [
      for i, name in local.order : {
        type   = "metric"
        x      = (i % 3) * 8
        y      = floor(i / 3) * 6
        width  = 8
        height = 6
        properties = {
          title   = local.widget[name].title
          region  = var.region
          stat    = local.widget[name].stat
          period  = 300
          view    = "timeSeries"
          metrics = local.widget[name].metrics
        }
      }
    ]
  })
}
