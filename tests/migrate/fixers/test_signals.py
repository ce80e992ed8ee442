"""CFQ506: signals the shim never sends."""

from fixer_helpers import check_noop, codes


def test_signals_the_shim_never_sends():
    result = check_noop(
        "from cfq_shim.signals import beat_init, worker_ready, heartbeat_sent\n"
        "@beat_init.connect\ndef a(**kw):\n    pass\n"
        "@worker_ready.connect\ndef b(**kw):\n    pass\n"
        "heartbeat_sent.connect(a, weak=False)\n"
    )
    assert codes(result) == ["CFQ506", "CFQ506"]
