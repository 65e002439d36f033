"""Command line: ``aisim`` (and ``python -m aisim``) runs one configuration; ``-m`` sweeps.

A thin ``@hydra.main`` wrapper around :func:`aisim.runner.run`. Every user mistake -- ours or
Hydra's (a missing config option, a bad override, a wrong type, a malformed YAML file, a missing
mandatory value, an unwritable run folder) -- ends with one line on stderr naming the key or
file and exit status 2, never a traceback (:func:`hydra_entry`, :func:`error_line`). Exit
statuses:

* 0 -- the run (or every job of the sweep) completed and passed its quality check;
* 1 -- jobs of a sweep failed (each is named at the end; the others completed);
* 2 -- a user mistake, found before any work started;
* 3 -- the run completed but failed its quality check (:mod:`aisim.quality`): its manifest says
  ``quality: failed``;
* 130 -- interrupted (Ctrl-C): after one line the process ends by SIGINT, as the shell expects; a
  run interrupted before its manifest was written leaves no manifest, so nothing that looks
  complete.

In a sweep each job catches its own failure, records it in its folder (``failure.txt``) and
returns, so that one failing job never takes down the others under any launcher; the sweep
callback (:mod:`aisim.sweeper`) validates every job's config before any job starts and reports
the failed jobs at the end.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from aisim.config import CONFIG_PATH, register
from aisim.kernels.backend import BackendError
from aisim.results import RunDirBusy
from aisim.schema import ConfigError, config_error_line, nearest
from aisim.summary import summary_table

FAILURE_FILE = "failure.txt"  # written into a sweep job's folder when the job fails


class RunFailed(RuntimeError):
    """The run completed but its results failed the quality check (exit status 3)."""


class SweepFailed(RuntimeError):
    """Jobs of a sweep failed; ``lines`` names each one (exit status 1)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0] if lines else "jobs of the sweep failed")
        self.lines = lines


class Stop(BaseException):  # noqa: N818 -- not an error itself: it carries one through Hydra
    """Carries ``error`` out of a Hydra callback, which would turn an Exception into a warning
    and carry on launching; :func:`hydra_entry` describes ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


_NOTED: set[str] = set()  # backend notes already printed by this process
_FAILED: list[BaseException] = []  # the failure of a single run, raised again by hydra_entry


def note_once(text: str) -> None:
    """Print an informational line to stderr once per process (the backend choice, say)."""
    if text and text not in _NOTED:
        _NOTED.add(text)
        print(f"aisim: {text}", file=sys.stderr)


def check_writable(run_dir: Path) -> None:
    """Raise :class:`ConfigError` unless result files can be written into ``run_dir``."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".aisim-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{run_dir}: the run folder is not writable ({exc.strerror or exc}); "
                          "choose another with hydra.run.dir (hydra.sweep.dir for -m)") from None


def run_and_summarise(cfg: DictConfig, run_dir: Path) -> None:
    """One run: check the folder, simulate, print the summary; raise :class:`RunFailed` when the
    results fail their quality check."""
    from aisim.runner import run

    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    check_writable(run_dir)
    result = run(cfg, run_dir)
    m = result.results.manifest
    if result.resumed:
        print(f"aisim: {run_dir} already holds complete results for config hash {m['config_hash']} (paths "
              f"{m['path_range'][0]}:{m['path_range'][1]}); nothing recomputed", file=sys.stderr)
    if result.moved is not None:
        print(f"aisim: moved the results found in {run_dir} ({result.moved_reason}) to {result.moved}",
              file=sys.stderr)
    if not result.resumed:
        note_once(result.backend.reason)
    print(summary_table(result.results, run_dir))
    if m.get("quality") == "failed":
        raise RunFailed(f"the results in {run_dir} failed their quality check (manifest: quality=failed): "
                        + "; ".join(m.get("quality_problems", [])))
    if cfg.report and not (result.resumed and (run_dir / "report.html").is_file()):
        from aisim.report import build_report

        print(f"report: {build_report(run_dir)}")


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    if hc.mode != RunMode.MULTIRUN:
        try:
            run_and_summarise(cfg, run_dir)
        except Exception as exc:  # noqa: BLE001 -- described by hydra_entry, after Hydra returns
            _FAILED.append(exc)  # (raised through Hydra, it would print its own line first)
        return
    # A sweep job: record a failure and return, so that it cannot take down the other jobs
    # (a SystemExit would kill a joblib worker and its siblings with it).
    (run_dir / FAILURE_FILE).unlink(missing_ok=True)  # from an earlier sweep into this folder
    try:
        run_and_summarise(cfg, run_dir)
    except Exception as exc:  # noqa: BLE001 -- every failure of a job is recorded, then reported at the end
        line = error_line(exc)[0] or f"{type(exc).__name__}: {exc}"
        job = f"job {hc.job.num} ({' '.join(hc.overrides.task) or 'no overrides'})"
        print(f"aisim: {job} failed: {line}", file=sys.stderr)
        try:
            (run_dir / FAILURE_FILE).write_text(f"{job}: {line}\n", encoding="utf-8")
        except OSError:
            pass


# --------------------------------------------------------------------------- errors
def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def _yaml_line(exc: BaseException) -> str | None:
    import yaml

    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, yaml.YAMLError):
            mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
            problem = getattr(e, "problem", None) or _one_line(e)
            if mark is not None:
                return f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: malformed YAML: {problem}"
            return f"malformed YAML: {problem}"
    return None


def _composition_line(exc: ConfigCompositionException) -> str:
    cause = exc.__cause__
    msg = str(exc)
    override = re.search(r"override '?([^'\n]+?)'?\.?$", msg.splitlines()[0])
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None) or ""
        obj = getattr(cause, "object_type", None)
        text = config_error_line(cause)
        if "not in" in text:  # an unknown key, or a new dictionary entry
            append = re.search(r"To append to your config use (.+)$", msg, flags=re.MULTILINE)
            if isinstance(obj, type) and hasattr(obj, "__dataclass_fields__"):
                return f"{key}: unknown key{nearest(key.rsplit('.', 1)[-1], list(obj.__dataclass_fields__))}"
            if append:
                return f"{key}: a new entry needs a leading +, as in {append.group(1)}"
        if override:  # the override as given, then what is wrong with it
            first = _one_line(str(getattr(cause, "msg", None) or cause).splitlines()[0])
            return f"{override.group(1)}: {first}"
        return text
    return _one_line(msg)


def error_line(exc: BaseException) -> tuple[str | None, int]:
    """(one line describing a user mistake or a failed run, exit status), or (None, 1) for an
    unexpected error (a bug: its traceback is worth seeing)."""
    if isinstance(exc, ConfigError | BackendError | RunDirBusy):
        return _one_line(exc), 2
    if isinstance(exc, RunFailed):
        return _one_line(exc), 3
    if isinstance(exc, SweepFailed):
        return _one_line(exc), 1
    yaml_line = _yaml_line(exc)
    if yaml_line is not None:
        return yaml_line, 2
    if isinstance(exc, MissingConfigException):
        missing = exc.missing_cfg_file or ""
        if exc.options and "/" in missing:
            group, name = missing.rsplit("/", 1)
            return f"{group}={name}: no such {group} option; valid: {', '.join(sorted(exc.options))}", 2
        return _one_line(str(exc).split("\nConfig search path:")[0].split("\nSearch path:")[0]), 2
    if isinstance(exc, OverrideParseException):
        return f"cannot parse the override {exc.override!r}: {_one_line(exc.message)}", 2
    if isinstance(exc, ConfigCompositionException):
        return _composition_line(exc), 2
    if isinstance(exc, OmegaConfBaseException):
        return config_error_line(exc), 2
    if isinstance(exc, HydraException):
        return _one_line(exc), 2
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}", 2
    return None, 1


def hydra_entry(task: Any, prog: str) -> int:
    """Call a ``@hydra.main`` function and turn what it raises into one line and an exit status.

    Hydra prints its own errors over several lines and exits 1; with ``HYDRA_FULL_ERROR`` set
    for the call it raises them instead, and they are described here (:func:`error_line`). A
    user who sets ``HYDRA_FULL_ERROR=1`` still gets Hydra's full traceback.
    """
    before = os.environ.get("HYDRA_FULL_ERROR")
    full = before == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    _FAILED.clear()
    try:
        task()
        if _FAILED:
            raise _FAILED.pop()
    except Stop as stop:
        return _report(stop.error, prog, full)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (Ctrl-C); a run folder without manifest.json holds no complete results",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        # End as a program killed by SIGINT does (a shell shows 130), so that the shell or the
        # script that started it stops too.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 130  # where the signal does not end the process
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        return _report(exc, prog, full)
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before
    return 0


def _report(exc: BaseException, prog: str, full: bool) -> int:
    """Print ``exc`` as one line (a sweep's failed jobs: one line each); its exit status."""
    line, code = error_line(exc)
    if line is None or full:
        raise exc
    if isinstance(exc, SweepFailed):
        for extra in exc.lines:
            print(f"{prog}: {extra}", file=sys.stderr)
    else:
        print(f"{prog}: error: {line}", file=sys.stderr)
    return code


def main(argv: Any = None) -> None:
    """Console-script entry point."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    register()
    sys.exit(hydra_entry(_main, "aisim"))
