from celery import Celery

app = Celery("typed", broker="rediss://cache:6380/0")

type Payload = dict[str, int]


class Box[T]:
    def __init__(self, item: T) -> None:
        self.item = item


@app.task(priority=1)
def first[T](items: list[T]) -> T:
    return items[0]


def run[T](items: list[T]) -> None:
    first.delay(items)
    print(f"{"nested" + 'quotes'}")
