"""A stand-in that hides an installed uvloop: ``make test-without-uvloop`` puts its folder
first on PYTHONPATH, so ``import uvloop`` fails as if uvloop were not installed, in the test
process and in every process it starts (CLI runs, shards, served deployments)."""

raise ImportError("uvloop is hidden for this test run (make test-without-uvloop)")
