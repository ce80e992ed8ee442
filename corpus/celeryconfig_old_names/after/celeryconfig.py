# Pre-4.0 configuration module.
broker_url = "cloudflare://"
result_backend = "rpc://"
task_serializer = "json"
accept_content = [task_serializer]
worker_concurrency = 4
worker_prefetch_multiplier = 1
timezone = "Europe/Paris"
broker_visibility_timeout = 600
beat_schedule = {}
