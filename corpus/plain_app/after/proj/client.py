from proj.tasks import add, mul


def fire():
    add.delay(1, 2)
    mul.apply_async((2, 3), countdown=10, queue="math")
    result = add.apply_async(args=(1, 1), task_id="fixed-id", headers={"h": 1})
    return result.id
