from django.http import JsonResponse

from .tasks import notify_shipping


def ship(request, order_id):
    result = notify_shipping.delay(order_id)
    return JsonResponse({"task": result.id, "state": result.get(timeout=1)})
