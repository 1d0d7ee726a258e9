output "api_url" {
  description = "Base URL of the REST API: the dashboard, the Stats API, sessions (and every collector route too)."
  value       = module.api.invoke_url
}

output "collector_url" {
  description = "Base URL websites call: <collector_url>/liveinsight.js in the snippet, which posts to <collector_url>/events."
  value       = module.collector.invoke_url
}

output "events_url" {
  description = "The event collection endpoint of the operations guide (…/prod/events), on the collector's HTTP API."
  value       = "${module.collector.invoke_url}/events"
}

output "dashboard_url" {
  description = "The live dashboard."
  value       = "${module.api.invoke_url}/dashboard"
}

output "function_names" {
  description = "Lambda function names (the API's is LiveInsight-EventCollector in prod)."
  value       = local.function_names
}

output "table_names" {
  description = "DynamoDB table names."
  value       = module.tables.table_names
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = module.alarms.topic_arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = module.dashboard.name
}

output "lake_bucket" {
  description = "The event lake's bucket (Parquet under events/site=<site>/date=<date>/)."
  value       = module.lake.bucket_name
}

output "athena_workgroup" {
  description = "The Athena workgroup of lake queries (make sql in prod)."
  value       = module.lake.athena_workgroup_name
}

output "athena_database" {
  description = "The Glue database of the lake; its table is events."
  value       = module.lake.athena_database_name
}

output "events_stream_arn" {
  description = "The Events table's stream, the lake writer's source."
  value       = module.tables.stream_arns["Events"]
}
