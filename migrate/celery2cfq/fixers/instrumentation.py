"""Celery instrumentation from Sentry and OpenTelemetry is reported (CFQ511).

``sentry_sdk.integrations.celery.CeleryIntegration`` and
``opentelemetry.instrumentation.celery.CeleryInstrumentor`` hook Celery's own classes and signals.
The rewrite passes and they still import while Celery is installed, but the shim's tasks and worker
are not Celery's: task failures are no longer reported to Sentry and no spans are made, silently.
"""

from __future__ import annotations

import libcst as cst

from ..names import CELERY_INSTRUMENTATION_MODULES
from ._base import Example, Fixer, Rule, dotted_name

__all__ = ["InstrumentationFixer", "RULES"]

RULES = (
    Rule(
        code="CFQ511",
        name="celery-instrumentation",
        title="Sentry's `CeleryIntegration` or OpenTelemetry's `CeleryInstrumentor` see nothing on the shim",
        description=(
            "Both hook Celery's own task classes and signals; with cfq_shim's tasks and worker they report no task "
            "failure and make no span, without an error. The shim has its own: `cfq_shim.contrib.sentry.install()` "
            "(the same event fields) and `cfq_shim.contrib.opentelemetry.instrument()` (publish and run spans, the "
            "context carried in the message headers); see docs/integrations.md."
        ),
        examples=(
            Example(
                path="proj/settings.py",
                before=(
                    "import sentry_sdk\nfrom sentry_sdk.integrations.celery import CeleryIntegration\n\n"
                    "sentry_sdk.init(dsn='https://key@sentry.example/1', integrations=[CeleryIntegration()])\n"
                ),
                after=(
                    "import sentry_sdk\nfrom sentry_sdk.integrations.celery import CeleryIntegration\n\n"
                    "sentry_sdk.init(dsn='https://key@sentry.example/1', integrations=[CeleryIntegration()])\n"
                ),
            ),
        ),
    ),
)

_WHAT = {
    "sentry_sdk.integrations.celery": "Sentry's Celery integration: task failures on cfq_shim would not be reported",
    "opentelemetry.instrumentation.celery": "OpenTelemetry's Celery instrumentation: tasks on cfq_shim would make no spans",
}
_INSTEAD = {
    "sentry_sdk.integrations.celery": "call cfq_shim.contrib.sentry.install() after sentry_sdk.init() instead "
                                      "(docs/integrations.md)",
    "opentelemetry.instrumentation.celery": "call cfq_shim.contrib.opentelemetry.instrument() instead "
                                            "(docs/integrations.md)",
}


class InstrumentationFixer(Fixer, order=130):
    rules = RULES

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom) -> cst.ImportFrom:
        if original_node.module is not None and not original_node.relative:
            self._check(original_node, dotted_name(original_node.module))
        return updated_node

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        for alias in original_node.names:
            self._check(original_node, dotted_name(alias.name))
        return updated_node

    def _check(self, node: cst.CSTNode, module: str | None) -> None:
        if module in CELERY_INSTRUMENTATION_MODULES:
            self.ctx.report(node, "CFQ511", f"{_WHAT[module]}; {_INSTEAD[module]}")
