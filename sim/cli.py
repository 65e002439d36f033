"""Command line: ``aisim`` (and ``python -m aisim``) runs one configuration; ``-m`` sweeps.

A thin ``@hydra.main`` wrapper around :func:`aisim.runner.run`. User mistakes end with one line
on stderr naming the problem and exit status 2, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from aisim.config import CONFIG_PATH, register
from aisim.kernels.backend import BackendError
from aisim.results import RunDirBusy
from aisim.schema import ConfigError
from aisim.summary import summary_table


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _main(cfg: DictConfig) -> None:
    from aisim.runner import run

    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = run(cfg, run_dir)
    except (ConfigError, BackendError, RunDirBusy) as exc:
        print(f"aisim: error: {exc}", file=sys.stderr)
        sys.exit(2)
    m = result.results.manifest
    if result.resumed:
        print(f"aisim: {run_dir} already holds complete results for config hash {m['config_hash']} (paths "
              f"{m['path_range'][0]}:{m['path_range'][1]}); nothing recomputed", file=sys.stderr)
    if result.moved is not None:
        print(f"aisim: moved the results found in {run_dir} ({result.moved_reason}) to {result.moved}",
              file=sys.stderr)
    if result.backend.reason and not result.resumed:
        print(f"aisim: {result.backend.reason}", file=sys.stderr)
    print(summary_table(result.results, run_dir))
    if cfg.report and not (result.resumed and (run_dir / "report.html").is_file()):
        from aisim.report import build_report

        print(f"report: {build_report(run_dir)}")


def main(argv: Any = None) -> None:
    """Console-script entry point."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    register()
    _main()
