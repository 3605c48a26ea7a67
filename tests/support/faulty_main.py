"""main.py served with fault-injecting adapters (the stress suite's servers).

`functions-framework --source=tests/support/faulty_main.py --target=on_storage_event` serves
the real entry points unchanged; only the composition root wraps its adapters with the plan
in $TEST_FAULTS (tests/support/faults.py), and each fault that fires is appended to
$TEST_FAULTS_LOG when it is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # functions-framework only adds this file's folder
    sys.path.insert(0, str(ROOT))

from registration import bootstrap  # noqa: E402
from tests.support.faults import ENV_VAR, LOG_ENV_VAR, FaultPlan, with_faults  # noqa: E402

# $TEST_FAULTS_LOG, if set, receives one line per fault that fires (the stress suite counts
# them per kind, across restarts and killed workers).
PLAN = FaultPlan(os.environ.get(ENV_VAR, ""), log_path=os.environ.get(LOG_ENV_VAR) or None)
bootstrap.install_wrapper(lambda backends: with_faults(backends, PLAN))

from main import on_storage_event, status, sweep  # noqa: E402

__all__ = ["on_storage_event", "status", "sweep"]
