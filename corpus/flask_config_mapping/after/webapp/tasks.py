import cfq_shim.exceptions
import cfq_shim
from cfq_shim import shared_task


@shared_task(ignore_result=False)
def greet(name):
    if not name:
        raise cfq_shim.exceptions.Ignore()
    return f"hello {name}"
