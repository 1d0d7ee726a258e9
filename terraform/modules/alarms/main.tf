# The operations guide's alarms, exactly as it states them, plus what operators also need.
# Every alarm notifies one SNS topic (and its optional e-mail subscriptions) on ALARM and on OK.

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:Encrypted with the customer-managed key when customer_managed_key is on; CloudWatch cannot publish to a topic under the AWS managed key, and alarm messages hold no visitor data.
  name              = "${var.name_prefix}Alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  actions = [aws_sns_topic.alarms.arn]
  api     = var.function_names.api
  # Runbook anchors of the jobs' error alarms, where they are not the minute jobs'.
  job_runbooks = { lake_compaction = "lake-compaction", lake_erasure = "visitor-erasure" }
}

# Guide 1: 5 or more errors in 5 minutes, 2 consecutive evaluation periods.
resource "aws_cloudwatch_metric_alarm" "lambda_error_rate" {
  alarm_name          = "${var.name_prefix}Lambda-ErrorRate"
  alarm_description   = "5 or more errors of ${local.api} in 5 minutes, twice in a row. Runbook: docs/operations.md#lambda-errors"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = local.api }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Guide 2: average duration 5 seconds or more, 2 consecutive periods.
resource "aws_cloudwatch_metric_alarm" "lambda_duration" {
  alarm_name          = "${var.name_prefix}Lambda-Duration"
  alarm_description   = "Average duration of ${local.api} 5,000 ms or more, twice in a row. Runbook: docs/operations.md#slow-responses"
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = local.api }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = 5000
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Guide 3: any throttled request on any table, at once (1 period). Counted by the functions themselves
# (chalicelib/store/base.py: every DynamoDB call passes there; a throttled transaction too) as one
# metric printed only when a throttle happens: one alarm metric ($0.10 a month) instead of a read and
# a write metric per table from AWS/DynamoDB (8: $0.80), which the dashboard still shows per table.
resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  alarm_name          = "${var.name_prefix}DynamoDB-Throttles"
  alarm_description   = "Any DynamoDB read or write of a LiveInsight function throttled (LiveInsight/DynamoDBThrottles). Runbook: docs/operations.md#dynamodb-throttling"
  namespace           = "LiveInsight"
  metric_name         = "DynamoDBThrottles"
  dimensions          = { Environment = var.metrics_environment }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Beyond the guide: what else tells an operator that visitors' events are being lost or late.
resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name_prefix}API-5XXRate"
  alarm_description   = "More than 1% of the requests of the collector (websites' events) or of the REST API (dashboard, Stats API) answered 5xx for 10 minutes. Runbook: docs/operations.md#api-5xx"
  evaluation_periods  = 2
  threshold           = 0.01
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "worst"
    expression  = local.api_5xx_expression
    label       = "Share of requests answered 5xx, the worse API"
    return_data = true
  }

  # An HTTP API's metric is 5xx (ApiId), a REST API's 5XXError (ApiName); each averages to a share.
  metric_query {
    id = "collector"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.collector_api_id, Stage = var.api_stage }
      stat        = "Average"
      period      = 300
    }
  }

  metric_query {
    id = "rest"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5XXError"
      dimensions  = { ApiName = var.api_name, Stage = var.api_stage }
      stat        = "Average"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  alarm_name          = "${var.name_prefix}Lambda-Throttles"
  alarm_description   = "Any throttled invocation of ${local.api} (account concurrency exhausted). Runbook: docs/operations.md#lambda-throttles"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = local.api }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "processing_errors" {
  alarm_name          = "${var.name_prefix}ProcessingErrors"
  alarm_description   = "Events not stored or statistics not updated (LiveInsight/ProcessingErrors) in 5 minutes. Runbook: docs/operations.md#processing-errors"
  namespace           = "LiveInsight"
  metric_name         = "ProcessingErrors"
  dimensions          = { Environment = var.metrics_environment }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.processing_errors_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Bill protection: events refused because a site sent more than its limit of events per minute
# (LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE, chalicelib/ratelimit.py). Any such event in 5 minutes.
resource "aws_cloudwatch_metric_alarm" "rate_limited" {
  alarm_name          = "${var.name_prefix}RateLimited"
  alarm_description   = "Events refused (429) because a site sent more than its limit of events per minute (LiveInsight/EventsRejected, Reason RateLimited) in 5 minutes. Runbook: docs/operations.md#rate-limited"
  namespace           = "LiveInsight"
  metric_name         = "EventsRejected"
  dimensions          = { Environment = var.metrics_environment, Reason = "RateLimited" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# The minute jobs: any failure, and a run that did not happen (no invocation in 5 minutes).
resource "aws_cloudwatch_metric_alarm" "job_errors" {
  for_each = { expiry = var.function_names.expiry, rollup = var.function_names.rollup, lake_compaction = var.function_names.lake_compaction, lake_erasure = var.function_names.lake_erasure }

  alarm_name          = "${each.value}-Errors"
  alarm_description   = "${each.value} failed. Runbook: docs/operations.md#${lookup(local.job_runbooks, each.key, "minute-jobs")}"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "job_missed" {
  for_each = { expiry = var.function_names.expiry, rollup = var.function_names.rollup }

  alarm_name          = "${each.value}-MissedRuns"
  alarm_description   = "${each.value} did not run for 5 minutes (it runs every minute). Runbook: docs/operations.md#minute-jobs"
  namespace           = "AWS/Lambda"
  metric_name         = "Invocations"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "no_events" {
  count = var.expect_traffic ? 1 : 0

  alarm_name          = "${var.name_prefix}NoEventsProcessed"
  alarm_description   = "No events stored for 15 minutes although traffic is expected. Runbook: docs/operations.md#no-events"
  namespace           = "LiveInsight"
  metric_name         = "EventsProcessed"
  dimensions          = { Environment = var.metrics_environment }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# The realtime statistics (docs/stats.md): the aggregator turns the Events stream into the minute
# buckets, with a 5 s batching window for a 10 s freshness, so its iterator age stays near 5-10 s.
# A minute behind is six times the freshness, past anything a burst or a retried batch explains, so
# this alarm is quicker than the lake writer's: 1-minute periods, 2 of 3 (one odd minute, a cold start
# in a backlog, does not page; two do: about 2 minutes after the lag reaches a minute, not 3 of 5).
resource "aws_cloudwatch_metric_alarm" "stats_iterator_age" {
  alarm_name          = "${var.function_names.stats_aggregator}-IteratorAge"
  alarm_description   = "The realtime statistics are 1 minute or more behind the Events stream (${var.function_names.stats_aggregator} IteratorAge). Runbook: docs/operations.md#stats-iterator-age"
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = var.function_names.stats_aggregator }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 60000
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# The event lake (docs/lake.md). Freshness is the promise: an event is in the lake 2 minutes after
# it was accepted. The stream's iterator age is how far the writer is behind; with a 60 s batching
# window it stays near a minute, so 3 minutes for 3 of 5 minutes means the promise is broken.
resource "aws_cloudwatch_metric_alarm" "lake_iterator_age" {
  alarm_name          = "${var.function_names.lake_writer}-IteratorAge"
  alarm_description   = "The event lake's writer is more than 3 minutes behind the Events stream (IteratorAge). Runbook: docs/operations.md#lake-iterator-age"
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = var.function_names.lake_writer }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = 180000
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# A stream record the writer could not turn into a row: it is in dead-letter/ of the lake bucket.
resource "aws_cloudwatch_metric_alarm" "lake_dead_letters" {
  alarm_name          = "${var.name_prefix}LakeDeadLetters"
  alarm_description   = "Stream records the event lake could not store were put in dead-letter/ (LiveInsight/LakeDeadLetters) in 5 minutes. Runbook: docs/operations.md#lake-dead-letters"
  namespace           = "LiveInsight"
  metric_name         = "LakeDeadLetters"
  dimensions          = { Environment = var.metrics_environment }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# A whole batch an event source mapping gave up on (its records left the stream): its coordinates
# are in the stream-failures queue, which the lake writer's and the statistics aggregator's share.
resource "aws_cloudwatch_metric_alarm" "lake_stream_failures" {
  alarm_name          = "${var.name_prefix}LakeStreamFailures"
  alarm_description   = "A stream batch was abandoned by the event lake's writer or the statistics aggregator: its coordinates wait in ${var.lake_failures_queue_name}. Runbook: docs/operations.md#lake-stream-failures"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.lake_failures_queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}
