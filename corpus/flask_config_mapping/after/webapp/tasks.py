import cfq_shim
import cfq_shim.exceptions
from cfq_shim import shared_task


@shared_task(ignore_result=False)
def greet(name):
    if not name:
        raise cfq_shim.exceptions.Ignore()
    return f"hello {name}"
