"""The request and answer bodies of the HTTP API (they make docs/openapi.json)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from hyperopt_cli.config import GROUPS, METRICS, MODES, default_search_space

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # a plain directory name: no '/', never '.' or '..'
CONFIG_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # a bare file name in the configs directory


class StartRequest(BaseModel):
    """POST /start. A field left out (or null) keeps the value of the config file."""

    model_config = ConfigDict(extra="forbid")

    mode: Optional[Literal[MODES]] = Field(  # type: ignore[valid-type]
        None, description="full | quick | group | fine_tune (fine_tune needs fine_tune_from in the config)."
    )
    target_group: Optional[Literal[GROUPS]] = Field(  # type: ignore[valid-type]
        None, description="The group of mode 'group'."
    )
    epochs_per_trial: Optional[int] = Field(None, ge=1, le=10_000)
    max_trials_per_group: Optional[int] = Field(None, ge=1, le=1_000_000)
    max_total_hours: Optional[float] = Field(
        None, gt=0, le=100_000, description="Time budget summed across sessions (config: max_total_time_hours)."
    )
    primary_metric: Optional[Literal[METRICS]] = None  # type: ignore[valid-type]
    study_name: Optional[str] = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Prefix of the study files <study_name>_<group>.db (a plain name).",
    )
    use_mlflow: Optional[bool] = Field(None, description="Log groups and trials to MLflow (needs the mlflow extra).")
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1)
    config: Optional[str] = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=CONFIG_NAME_PATTERN,
        description="File name of a config in the server's configs directory (serve --configs-dir, default "
        "configs/), e.g. 'quick' or 'quick.yaml'; never a path. Default: the server's --config.",
    )


class JobRequest(BaseModel):
    """POST /stop and /resume: which run (default: the most recent)."""

    model_config = ConfigDict(extra="forbid")

    job_id: Optional[str] = Field(None, pattern=JOB_ID_PATTERN)


class TimeEstimate(BaseModel):
    model_config = ConfigDict(extra="allow")

    estimated_hours: Optional[float] = Field(description="Total hours of the run; null until the run has measured it.")
    total_trials: int


class StartResponse(BaseModel):
    success: bool
    job_id: str
    status: str
    time_estimate: TimeEstimate
    run_dir: str


class StopResponse(BaseModel):
    success: bool
    status: str = Field(description="'paused' once the run has exited; 'stopping' if it is still checkpointing.")
    message: str
    can_resume: bool
    job_id: str


class Progress(BaseModel):
    model_config = ConfigDict(extra="allow")

    current_group: Optional[str] = None
    current_trial: Optional[int] = None
    groups_completed: list[str] = []


class ResumeResponse(BaseModel):
    success: bool
    status: str
    job_id: str
    progress: Progress = Field(description="Where the run continues from (as it was when it stopped).")


class RunState(BaseModel):
    """state.json of a run plus liveness (`hyperopt status RUN_DIR --json`); more keys than listed."""

    model_config = ConfigDict(extra="allow")

    job_id: Optional[str] = None
    status: str = Field(
        description="idle (no runs) | starting | running | paused | completed | failed | interrupted | unreadable"
    )


class RunsResponse(BaseModel):
    runs_dir: str
    runs: list[RunState]


class Results(BaseModel):
    """results.json (`hyperopt results --json`, schema in the README); more keys than listed."""

    model_config = ConfigDict(extra="allow")

    job_id: Optional[str] = None
    status: Optional[str] = None
    complete: bool
    best_params: dict[str, Any]


class Group(BaseModel):
    name: str
    params: list[str] = Field(description="The parameters the group's study searches.")


class GroupsResponse(BaseModel):
    groups: list[Group] = Field(description="In the order a full run optimises them.")
    modes: list[str]


def groups_answer() -> dict[str, Any]:
    """GET /groups: what the page builds its group and mode choices from."""
    space = default_search_space()
    return {"groups": [{"name": g, "params": list(space[g])} for g in GROUPS], "modes": list(MODES)}


class ErrorResponse(BaseModel):
    detail: str
    job_id: Optional[str] = None


# The error answers each endpoint documents in the schema.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Unparseable body, or a Host header the server does not answer to"},
    401: {"model": ErrorResponse, "description": "The server has a token and the request lacks it"},
    403: {"model": ErrorResponse, "description": "A POST from a page of another origin (or Origin: null)"},
    404: {"model": ErrorResponse, "description": "Unknown job id, or no runs at all"},
    409: {"model": ErrorResponse, "description": "A run is active, nothing is running, or the run is finished"},
    413: {"model": ErrorResponse, "description": "A request body over 64 KiB"},
    415: {"model": ErrorResponse, "description": "A POST body that is not application/json"},
}
