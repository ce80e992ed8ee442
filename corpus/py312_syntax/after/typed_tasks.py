from cfq_shim import Celery

app = Celery("typed", broker="cloudflare://")

type Payload = dict[str, int]


class Box[T]:
    def __init__(self, item: T) -> None:
        self.item = item


@app.task
def first[T](items: list[T]) -> T:
    return items[0]


def run[T](items: list[T]) -> None:
    first.delay(items)
    print(f"{"nested" + 'quotes'}")
