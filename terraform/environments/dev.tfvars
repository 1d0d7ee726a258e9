# dev sits beside prod in the same account: every name carries "LiveInsight-dev-".
region                     = "us-east-1"
sites_json                 = "{\"default\": {\"origins\": [\"http://localhost:8000\"]}}"
default_site               = "default"
billing_mode               = "PAY_PER_REQUEST"
deletion_protection        = false
log_retention_days         = 14
expect_traffic             = false
alarm_emails               = []
manage_api_gateway_account = false # prod owns the account-wide API Gateway logging role
