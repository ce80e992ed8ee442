from proj.celery import app


@app.task(name="proj.nightly")
def cleanup():
    return None
