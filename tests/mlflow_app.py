"""`python tests/mlflow_app.py BACKEND_STORE_URI ARTIFACTS_DESTINATION HOST PORT`: MLflow's tracking server
app (`mlflow.server.fastapi_app`) in this one process under uvicorn, configured as `mlflow server
--serve-artifacts` configures the uvicorn process it starts: through the variables named by
`mlflow.server`'s constants, as MLflow's own tests start a server. Its security and quiet settings come
from the environment it is given (`tracking_server.app_server`)."""

from __future__ import annotations

import os
import sys

# Before mlflow.server: its app installs the security middleware only when it is served.
import uvicorn
from mlflow.server import (
    ARTIFACT_ROOT_ENV_VAR,
    ARTIFACTS_DESTINATION_ENV_VAR,
    BACKEND_STORE_URI_ENV_VAR,
    REGISTRY_STORE_URI_ENV_VAR,
    SERVE_ARTIFACTS_ENV_VAR,
)

backend, destination, host, port = sys.argv[1:]
os.environ.update(
    {
        BACKEND_STORE_URI_ENV_VAR: backend,
        REGISTRY_STORE_URI_ENV_VAR: backend,
        ARTIFACT_ROOT_ENV_VAR: "mlflow-artifacts:/",
        SERVE_ARTIFACTS_ENV_VAR: "true",
        ARTIFACTS_DESTINATION_ENV_VAR: destination,
    }
)
from mlflow.server.fastapi_app import app  # noqa: E402 - reads the variables above

uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False)
