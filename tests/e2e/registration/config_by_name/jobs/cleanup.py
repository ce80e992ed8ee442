from tasks import app


@app.task
def purge_old(days):
    return days
