"""``nightly_benchmark``: run a suite file (endpoints x load plan) into one dated folder.

Scheduled every night by the ``nightly-benchmark`` deployment (``deployments/prefect.yaml``).
Each night is ``<results>/<suite name>/<date-time>/``: the runs of every endpoint, their
sweep summaries and charts, and the cross-model comparison (see ``model_sweep``). The suite
file is read when the flow runs, so editing it changes the next night without redeploying.
"""


from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from llmeter_core.errors import ConfigError

from .layout import results_root, sweep_folder
from .model_sweep import model_sweep
from .params import load_suite

__all__ = ["nightly_benchmark", "resolve_suite", "SUITES_DIR"]

#: Where the suite files of this repository live; a bare suite name is looked up here.
SUITES_DIR = Path(__file__).resolve().parent.parent / "deployments" / "suites"


def resolve_suite(suite: str) -> Path:
    """A suite path as given (absolute or relative to the working directory), else the file
    of that name in ``deployments/suites/`` (``demo`` or ``demo.yaml``)."""
    given = Path(suite).expanduser()
    candidates = [given]
    if not given.is_absolute():
        candidates += [SUITES_DIR / given, SUITES_DIR / f"{suite}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))) or "none"
    raise ConfigError(
        "suite", f"no suite file {suite!r} (looked in the working directory and {SUITES_DIR}; known: {known})"
    )


@flow(name="nightly-benchmark", log_prints=False)
async def nightly_benchmark(suite: str, results: str | None = None) -> dict[str, Any]:
    """Run every endpoint of a suite file over its load plan; one dated folder per night.

    Args:
        suite: Suite file: a path, or a name in deployments/suites (e.g. demo).
        results: Results root (local path or s3://bucket/prefix); default $LLMETER_RESULTS,
            else ./results.
    """
    path = resolve_suite(suite)
    spec = load_suite(path)
    if results:
        spec = spec.model_copy(update={"results": results})
    folder = sweep_folder(results_root(spec.results), spec.name)
    get_run_logger().info("nightly benchmark %s (%s) -> %s", spec.name, path, folder)
    return await model_sweep(spec, folder=folder)
