# Production: the operations guide's names (LiveInsight-Events, LiveInsight-EventCollector, ...).
# Secrets never go here: export TF_VAR_api_token before `make deploy`.
region              = "us-east-1"
sites_json          = "{\"default\": {\"origins\": [\"https://www.example.com\"]}}"
default_site        = "default"
billing_mode        = "PAY_PER_REQUEST"
deletion_protection = true
log_retention_days  = 30
expect_traffic      = false
alarm_emails        = []
