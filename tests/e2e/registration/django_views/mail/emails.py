from portal.celery import app


@app.task
def send_welcome_email(user_id):
    return user_id


@app.task(name="mail.digest")
def send_digest(user_id):
    return user_id
