# dev sits beside prod in the same account: every name carries "LiveInsight-dev-".
# Secrets never go here: export TF_VAR_api_token before `make deploy STAGE=dev`. The preflight
# (`python -m deploy preflight --stage dev`) checks this file and dev.s3.tfbackend first.

# The stage's region; dev.s3.tfbackend must name the same one.
region = "us-east-1"

# The sites as JSON, as in prod.tfvars. dev may allow local pages (http://localhost:<port>); any
# other origin must be a real https:// one.
sites_json   = "{\"default\": {\"origins\": [\"http://localhost:8000\"]}}"
default_site = "default"

# No alarm e-mails for dev, on purpose (`[]` written here; leaving the line out is refused).
alarm_emails = []

billing_mode               = "PAY_PER_REQUEST"
deletion_protection        = false
log_retention_days         = 14
expect_traffic             = false
manage_api_gateway_account = false # prod owns the account-wide API Gateway logging role
