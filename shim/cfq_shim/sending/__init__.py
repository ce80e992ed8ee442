"""Sending: from a task call to messages on a queue.

- :mod:`~cfq_shim.sending.producer`: the durable producer (each ``.delay()`` returns once the message
  is stored), declaring queues on first use where the transport creates them;
- :mod:`~cfq_shim.sending.coalesce`: concurrent single sends sharing bulk pushes (over HTTP);
- :mod:`~cfq_shim.sending.buffered`: opt-in buffered sends, flushed in the background.

This layer sits on the core and ``transport/``; it never imports the app.
"""
