output "topic_arn" {
  description = "The SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of all alarms."
  value = concat(
    [
      aws_cloudwatch_metric_alarm.lambda_error_rate.alarm_name,
      aws_cloudwatch_metric_alarm.lambda_duration.alarm_name,
      aws_cloudwatch_metric_alarm.dynamodb_throttles.alarm_name,
      aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name,
      aws_cloudwatch_metric_alarm.lambda_throttles.alarm_name,
      aws_cloudwatch_metric_alarm.processing_errors.alarm_name,
      aws_cloudwatch_metric_alarm.rate_limited.alarm_name,
      aws_cloudwatch_metric_alarm.stats_iterator_age.alarm_name,
      aws_cloudwatch_metric_alarm.lake_iterator_age.alarm_name,
      aws_cloudwatch_metric_alarm.lake_dead_letters.alarm_name,
      aws_cloudwatch_metric_alarm.lake_stream_failures.alarm_name,
    ],
    [for alarm in aws_cloudwatch_metric_alarm.job_errors : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.job_missed : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.no_events : alarm.alarm_name],
  )
}
