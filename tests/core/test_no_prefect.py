import subprocess
import sys


def test_llmeter_core_imports_no_prefect():
    code = (
        "import sys, pkgutil, importlib, llmeter_core\n"
        "for m in pkgutil.walk_packages(llmeter_core.__path__, 'llmeter_core.'):\n"
        "    if not m.name.endswith('litellm_endpoint'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'prefect' or n.startswith('prefect.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
