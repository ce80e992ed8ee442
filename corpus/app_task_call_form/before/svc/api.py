from . import worker


def handle(path):
    worker.resize.delay(path, 100)
    worker.upload.apply_async((path,), expires=60)
    worker.cleanup.si().delay()
