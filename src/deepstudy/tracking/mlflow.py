"""``--track mlflow``: one MLflow run per (arm, seed), nested under a run for the study, in experiment <study name>.

Tracking URI: ``--track-uri`` (any MLflow URI: a server, sqlite:///mlflow.db to gather every study in one place, a
databricks workspace), else ``sqlite:///<run_dir>/mlflow.db`` with artifacts in <run_dir>/mlartifacts — the run
directory stays self-contained (copy it, and its tracking goes with it), and sqlite is MLflow 3's own default backend
(the ./mlruns file store is deprecated there); `mlflow ui --backend-store-uri sqlite:///<run_dir>/mlflow.db` shows it.

    study run   tags study, run_dir; artifact report.html (when the report is written)
    arm/seed    tags study, arm, seed; params: the arm's flattened config; metrics per epoch (step = epoch): every
                number of its metrics.jsonl row; when it ends: test/<metric> and artifact best.safetensors
The run ids are kept in <run_dir>/mlflow.json, so ``deepstudy run --resume --track mlflow`` logs to the same runs.
"""
from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

from deepstudy.errors import UserError
from deepstudy.fileio import read_json, write_json
from deepstudy.tracking import arm_settings, numbers, test_metrics

IDS = "mlflow.json"


class MLflow:
    def __init__(self, uri: str | None):
        """``uri`` (--track-uri) is tried at once — before a run directory is made or a resumed one is touched —
        so that a bad one is one line and leaves nothing behind (None: sqlite in the run directory, made with it)."""
        self.uri = uri
        self.run_dir: Path | None = None
        self.client = None
        self.ids: dict = {}
        self.settings: dict[str, dict] | None = None
        if uri is not None:
            try:
                _client(uri).search_experiments(max_results=1)
            except Exception as e:  # noqa: BLE001 — an unreachable server, a bad URI, a store it cannot open
                raise _unusable(uri, e) from None

    def _open(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        saved = read_json(run_dir / IDS) if (run_dir / IDS).is_file() else {}
        uri = self.uri or saved.get("tracking_uri") or f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
        if saved and uri != saved.get("tracking_uri"):
            saved = {}  # another store: new runs there
        study = _study_name(run_dir)
        try:
            self.client = _client(uri)
            if not saved:
                found = self.client.get_experiment_by_name(study)
                experiment = found.experiment_id if found else self.client.create_experiment(
                    study, artifact_location=None if self.uri else (run_dir / "mlartifacts").resolve().as_uri())
                parent = self.client.create_run(experiment, run_name=f"{study} {run_dir.name}",
                                                tags={"study": study, "run_dir": str(run_dir.resolve())})
                saved = {"tracking_uri": uri, "experiment_id": experiment, "study_run": parent.info.run_id, "runs": {}}
            else:
                self.client.update_run(saved["study_run"], status="RUNNING")
        except Exception as e:  # noqa: BLE001 — an unreachable server, a bad URI: the run has not started yet
            raise _unusable(uri, e) from None
        self.ids = saved
        write_json(run_dir / IDS, self.ids)

    def _run(self, arm: str, seed: int) -> str:
        key = f"{arm}/seed-{seed}"
        if key not in self.ids["runs"]:
            from mlflow.entities import Param

            run = self.client.create_run(self.ids["experiment_id"], run_name=f"{arm} seed-{seed}", tags={
                "mlflow.parentRunId": self.ids["study_run"], "study": _study_name(self.run_dir), "arm": arm,
                "seed": str(seed)})
            self.ids["runs"][key] = run.info.run_id
            write_json(self.run_dir / IDS, self.ids)
            if self.settings is None:
                self.settings = arm_settings(self.run_dir)
            params = [Param(k[:250], str(v)[:6000]) for k, v in self.settings.get(arm, {}).items()]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
                self.client.log_batch(run.info.run_id, params=params[i:i + 100])
        return self.ids["runs"][key]

    def event(self, e: dict) -> None:
        kind = e["kind"]
        if kind == "run_dir":
            self._open(Path(e["path"]))
        elif self.client is None:
            return
        elif kind == "start" or kind == "resumed":
            self.client.update_run(self._run(e["arm"], e["seed"]), status="RUNNING")
        elif kind == "epoch":
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, e["epoch"]) for k, v in numbers(e).items()]
            self.client.log_batch(self._run(e["arm"], e["seed"]), metrics=metrics)
        elif kind == "run_end":
            run_id = self._run(e["arm"], e["seed"])
            seed_dir = self.run_dir / "arms" / e["arm"] / f"seed-{e['seed']}"
            for name, value in test_metrics(seed_dir).items():
                self.client.log_metric(run_id, name, value)
            if (seed_dir / "best.safetensors").is_file():
                self.client.log_artifact(run_id, str(seed_dir / "best.safetensors"))
            self.client.set_terminated(run_id, "FINISHED" if e.get("status", "ok") == "ok" else "FAILED")
        elif kind == "report":
            self.client.log_artifact(self.ids["study_run"], str(Path(e["path"])))
            self.client.set_terminated(self.ids["study_run"], "FINISHED")

    def close(self) -> None:
        pass  # every call above is written through; a run left RUNNING was interrupted (a resume goes on with it)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    # SQLAlchemy's deprecation of a loader MLflow's own store uses: MLflow's to fix, not the user's to see
    warnings.filterwarnings("ignore", message="The ``noload`` loader strategy is deprecated")
    for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables...": not the study's news
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def _unusable(uri: str, e: Exception) -> UserError:
    first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return UserError(f"--track mlflow: cannot use tracking URI '{uri}' ({type(e).__name__}: {first}); check "
                     "--track-uri")


def _study_name(run_dir: Path) -> str:
    from deepstudy import config

    return str(config.read_yaml(run_dir / "config.yaml").get("name") or run_dir.parent.name)
