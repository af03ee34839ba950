"""Prefect flows of llmeter-flows: ``load_test_sweep`` (flows/sweep.py), ``model_sweep``
(flows/model_sweep.py) and ``nightly_benchmark`` (flows/nightly.py).

Nothing is imported here, so ``flows.cli`` (the console script) starts without importing
Prefect; import the flow modules themselves.
"""

__all__: list[str] = []
