"""Sweeps that check every job before launching any, and report failed jobs at the end.

:class:`SweepGuard` is a Hydra callback, set in ``conf/config.yaml`` (``hydra.callbacks``), so it
works with every launcher (basic, joblib, submitit) and costs nothing in single runs:

* ``on_multirun_start`` (on the launching machine, before the sweeper and launcher start):
  expands the sweep as Hydra's basic sweeper does (``hydra.sweeper.params`` and the
  command-line overrides), composes every job's config and validates it
  (:func:`aisim.schema.validate`). The first bad job stops the sweep with one line naming the
  job and the key, before any job ran. Other sweepers (optuna, ...) choose their jobs as they
  go; their jobs are validated when they start.
* each job catches its own failure (:func:`aisim.cli._main`), prints one line and records it in
  its folder (``failure.txt``), so one failing job does not take down its siblings;
* ``on_multirun_end`` (on the launching machine, after every job returned): collects the failures
  this sweep recorded and raises :class:`aisim.cli.SweepFailed`, one line per failed job; the
  CLI prints them and exits with status 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """The overrides of every job of the sweep, in launch order, as Hydra's basic sweeper
    expands them; None when another sweeper chooses the jobs."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.sweeper
    if sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = sweeper.get("params") or {}
    args = [f"{k}={v}" for k, v in params.items()]
    args += list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    batches = BasicSweeper.split_arguments(parser.parse_overrides(args), None)
    return [list(job) for batch in batches for job in batch]


def check_jobs(config: DictConfig) -> int | None:
    """Compose and validate every job's config; raise on the first bad one (the message names
    the job). Returns the number of jobs, or None when they cannot be known in advance."""
    from hydra.core.global_hydra import GlobalHydra

    from aisim.schema import ConfigError, validate

    jobs = job_overrides(config)
    if jobs is None:
        return None
    loader = GlobalHydra.instance().config_loader()
    for num, overrides in enumerate(jobs):
        job = f"job {num} of {len(jobs)} ({' '.join(overrides) or 'no overrides'})"
        try:
            validate(loader.load_sweep_config(master_config=config, sweep_overrides=list(overrides)))
        except ConfigError as exc:
            raise ConfigError(f"{job}: {exc}; no job was started") from None
        except Exception as exc:
            from aisim.cli import error_line

            line, _ = error_line(exc)
            if line is None:
                raise
            raise ConfigError(f"{job}: {line}; no job was started") from exc
    return len(jobs)


def recorded_failures(sweep_dir: Path, since: float) -> list[str]:
    """The failures recorded by jobs of this sweep (``failure.txt`` written after ``since``)."""
    from aisim.cli import FAILURE_FILE

    if not sweep_dir.is_dir():
        return []
    out = []
    for p in sorted(sweep_dir.rglob(FAILURE_FILE)):
        try:
            if p.stat().st_mtime >= since:
                out.append(p.read_text(encoding="utf-8").strip())
        except OSError:
            continue
    return out


class SweepGuard(Callback):
    """Validate every job before the sweep, report the failed jobs after it (see the module)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.jobs: int | None = None

    # Hydra turns an Exception raised by a callback into a warning and carries on, so both hooks
    # raise aisim.cli.Stop (a BaseException) around the error, for the CLI to describe.
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from aisim.cli import Stop

        self.started = time.time() - 1.0  # file times can be a little coarse
        try:
            self.jobs = check_jobs(config)
        except Exception as exc:
            raise Stop(exc) from exc

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from aisim.cli import Stop, SweepFailed

        failed = recorded_failures(Path(str(config.hydra.sweep.dir)), self.started)
        if failed:
            total = f" of {self.jobs}" if self.jobs is not None else ""
            head = (f"{len(failed)}{total} jobs of the sweep failed (the others completed; "
                    f"sweep folder {config.hydra.sweep.dir}):")
            raise Stop(SweepFailed([head, *failed]))
