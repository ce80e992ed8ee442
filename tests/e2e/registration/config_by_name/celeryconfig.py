broker_url = "amqp://guest@localhost//"
imports = ("jobs.cleanup", "jobs.reports")
task_default_queue = "work"
