"""Local emulators of the OpenAI API, the Bedrock runtime and the SageMaker runtime.

They speak the real wire formats (so real SDKs and the engine's endpoints talk to them
unchanged), follow a seeded latency model with token times scheduled from each request's
start, inject faults by rate, and keep ground truth of what they served
(``GET /emulator/stats``, ``GET /emulator/requests/{id}``).
"""

from llmeter_core.emulator.app import KINDS, EmulatorThread, RunningEmulator, build_app, start_emulator
from llmeter_core.emulator.config import EmulatorConfig
from llmeter_core.emulator.ground_truth import GroundTruth, RequestTruth

__all__ = [
    "KINDS",
    "EmulatorConfig",
    "EmulatorThread",
    "GroundTruth",
    "RequestTruth",
    "RunningEmulator",
    "build_app",
    "start_emulator",
]
