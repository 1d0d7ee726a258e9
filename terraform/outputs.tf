output "api_url" {
  description = "Base URL of the API: POST <api_url>/events, GET <api_url>/dashboard."
  value       = module.api.invoke_url
}

output "events_url" {
  description = "The event collection endpoint of the operations guide (…/prod/events)."
  value       = "${module.api.invoke_url}/events"
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
