# Production: the operations guide's names (LiveInsight-Events, LiveInsight-EventCollector, ...).
# Secrets never go here: export TF_VAR_api_token before `make deploy`.
# make plan / make deploy first run the preflight (`python -m deploy preflight --stage prod`), which
# refuses to start while a placeholder below is left: replace each one.

# The stage's region; prod.s3.tfbackend must name the same one.
region = "us-east-1"

# Your sites and the browser origins allowed to send their events, as JSON:
#   {"<site-id>": {"origins": ["https://www.your-site.com", "https://your-site.com"]}, ...}
# A site id is 1-64 lower-case letters, digits, '_' or '-'; an origin is https://host[:port], no path.
# Placeholder: www.example.com.
sites_json   = "{\"default\": {\"origins\": [\"https://www.example.com\"]}}"
default_site = "default" # the site of events that name none: one of the ids in sites_json

# Who is e-mailed when an alarm fires (each address confirms an SNS subscription first):
#   alarm_emails = ["oncall@your-company.com"]
# To deploy with no alarm e-mails on purpose, write `alarm_emails = []`; leaving the line out is not
# allowed. Placeholder: alarms@example.com.
alarm_emails = ["alarms@example.com"]

billing_mode        = "PAY_PER_REQUEST"
deletion_protection = true
log_retention_days  = 30
expect_traffic      = false

# Data at rest is always encrypted; true puts tables, logs, lake, alarm topic and the functions'
# environment under one KMS key of LiveInsight's own ($1 a month, $3 from its third year):
# docs/operations.md#encryption.
customer_managed_key = false
