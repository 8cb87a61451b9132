"""Launch and stop Dagster runs through the webserver's GraphQL API (httpx).

`DagsterGraphQLClient.submit_job_execution` has no asset-selection or partition arguments
(dagster-notes.md), so the API speaks GraphQL directly: `addDynamicPartition`, `launchRun` with the
partition as the `dagster/partition` tag, and `terminateRuns`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ras_core.catalogue import RawOutput

if TYPE_CHECKING:
    import httpx

REPOSITORY_NAME = "__repository__"  # the implicit repository of a Definitions object
# Names the code location defines (ras_assets) and the API launches by; shared so they cannot drift.
RECORDINGS_PARTITIONS = "recordings"
VALIDATE_RECORDINGS_JOB = "validate_recordings"  # POST /jobs: every recording asked for meanwhile
IMPORT_PROCESSED_JOB = "import_processed"
# Several recordings' imports in one run, when imports wait for run slots (ras_assets/imports.py).
IMPORT_RECORDINGS_JOB = "import_recordings"
# Dagster's own tag for a sensor's run key; a run launched here under a key carries it too, so the
# launch can be repeated (a timeout that hid a success, two callers) without a second run.
RUN_KEY_TAG = "dagster/run_key"
IMPORT_KIND = "import"  # the `ras/kind` tag of the platform's own import runs
# The `ras/kind` tag of validation runs: the run queue runs one at a time (ras_assets/recording.py).
VALIDATE_KIND = "validate"
# Runs tagged so start when submitted if the run queue's limits allow (ras_platform/run_coordinator.py).
FAST_LANE_TAG = "ras/lane"
FAST_LANE = "fast"


def raw_asset_path(raw: RawOutput) -> list[str]:
    """The asset key of a raw EMA output, as the code location declares it (`ras_assets/raw.py`)."""
    return ["ema", raw.asset_name]


_ADD_PARTITION = """
mutation AddPartition($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""

_LAUNCH_RUN = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
    ... on RunConflict { message }
    ... on PipelineNotFoundError { message }
  }
}"""

_RUNS_BY_TAG = """
query Runs($filter: RunsFilter!, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) { __typename ... on Runs { results { runId status } } }
}"""

_LOCATION_STATUS = """
query Locations {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename } } }
  }
}"""

_LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
  }
}"""

_TERMINATE = """
mutation Terminate($ids: [String!]!) {
  terminateRuns(runIds: $ids) { __typename }
}"""

ACTIVE_RUN_STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "MANAGED"]
# Runs whose ops have not begun: what such a run reads from the state store, it reads later.
WAITING_RUN_STATUSES = ["NOT_STARTED", "QUEUED", "STARTING"]


class DagsterError(RuntimeError):
    """Dagster answered, but not with success; the message is Dagster's own."""


class DagsterClient:
    def __init__(
        self,
        url: str,
        location_name: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        import httpx  # here, not at module level: run processes import this module for its names only

        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s, transport=transport)
        self._selector = {"repositoryName": REPOSITORY_NAME, "repositoryLocationName": location_name}

    def _query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        answer = self._http.post("/graphql", json={"query": query, "variables": variables})
        answer.raise_for_status()
        body = answer.json()
        if body.get("errors"):
            raise DagsterError("; ".join(e.get("message", str(e)) for e in body["errors"]))
        return body["data"]

    def add_partition(self, partitions_def: str, key: str) -> None:
        data = self._query(_ADD_PARTITION, {"selector": self._selector, "name": partitions_def, "key": key})
        result = data["addDynamicPartition"]
        # Adding a partition that exists is fine: registration is idempotent.
        if result["__typename"] not in {"AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"}:
            raise DagsterError(result.get("message", result["__typename"]))

    def launch_partition_run(
        self,
        job_name: str,
        partition_key: str,
        tags: dict[str, str] | None = None,
        *,
        assets: list[list[str]] | None = None,
        run_key: str | None = None,
    ) -> str:
        """Launch `job_name` for one partition (only `assets` of it, given their key paths); with a
        `run_key`, a run already launched under that key is returned instead of a second one."""
        if run_key is not None and (existing := self.run_ids_with_tag(RUN_KEY_TAG, run_key)):
            return existing[0]
        return self.launch_run(
            job_name, {"dagster/partition": partition_key, **(tags or {})}, assets=assets, run_key=run_key
        )

    def launch_run(
        self,
        job_name: str,
        tags: dict[str, str] | None = None,
        *,
        assets: list[list[str]] | None = None,
        run_key: str | None = None,
    ) -> str:
        """Launch a run of `job_name` (only `assets` of it, given their key paths); its run id."""
        all_tags = dict(tags or {})
        if run_key is not None:
            all_tags[RUN_KEY_TAG] = run_key
        selector: dict[str, Any] = {**self._selector, "jobName": job_name}
        if assets is not None:
            selector["assetSelection"] = [{"path": path} for path in assets]
        params = {
            "selector": selector,
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]},
        }
        result = self._query(_LAUNCH_RUN, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            errors = result.get("errors") or [result]
            raise DagsterError("; ".join(e.get("message", result["__typename"]) for e in errors))
        return result["run"]["runId"]

    def waiting_run_id(self, job_name: str) -> str | None:
        """A run of `job_name` that has not begun executing (queued, or being launched), if any."""
        run_filter = {"pipelineName": job_name, "statuses": WAITING_RUN_STATUSES}
        result = self._query(_RUNS_BY_TAG, {"filter": run_filter, "limit": 1})["runsOrError"]
        runs = result.get("results", [])
        return runs[0]["runId"] if runs else None

    def run_ids_with_tag(self, tag_key: str, tag_value: str) -> list[str]:
        """Runs tagged `tag_key=tag_value`, whatever their status."""
        run_filter = {"tags": [{"key": tag_key, "value": tag_value}]}
        result = self._query(_RUNS_BY_TAG, {"filter": run_filter})["runsOrError"]
        return [run["runId"] for run in result.get("results", [])]

    def report_materialization(
        self, asset_path: list[str], partition: str, metadata: dict[str, Any], description: str
    ) -> None:
        """A runless materialization with metadata, through the webserver's REST endpoint (the
        GraphQL mutation `reportRunlessAssetEvents` takes no metadata)."""
        answer = self._http.post(
            f"/report_asset_materialization/{'/'.join(asset_path)}",
            json={"partition": partition, "metadata": metadata, "description": description},
        )
        if answer.status_code != 200:
            raise DagsterError(f"report_asset_materialization answered {answer.status_code}: {answer.text}")

    def active_run_ids(
        self, tag_key: str | None = None, tag_value: str | None = None, *, limit: int | None = None
    ) -> list[str]:
        """Runs queued or under way: those tagged `tag_key=tag_value`, or all of them (at most `limit`)."""
        run_filter: dict[str, Any] = {"statuses": ACTIVE_RUN_STATUSES}
        if tag_key is not None:
            run_filter["tags"] = [{"key": tag_key, "value": tag_value}]
        result = self._query(_RUNS_BY_TAG, {"filter": run_filter, "limit": limit})["runsOrError"]
        return [run["runId"] for run in result.get("results", [])]

    def launch_backfill(
        self, assets: list[str], partition_keys: list[str], *, title: str | None = None
    ) -> str:
        """A Dagster backfill of processed assets over recordings, as support staff launch it from
        the UI: each run goes through the lifecycle (a new attempt of the asset's job when it is not
        awaiting its import; see README, "Re-running a job type"). Returns the backfill id."""
        params: dict[str, Any] = {
            "assetSelection": [{"path": asset.split("/")} for asset in assets],
            "partitionNames": partition_keys,
        }
        if title:
            params["title"] = title
        result = self._query(_LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise DagsterError(result.get("message", result["__typename"]))
        return result["backfillId"]

    def terminate(self, run_ids: list[str]) -> None:
        if run_ids:
            self._query(_TERMINATE, {"ids": run_ids})

    def location_loaded(self) -> bool:
        """Whether the webserver has loaded our code location (it answers health checks before)."""
        result = self._query(_LOCATION_STATUS, {})["workspaceOrError"]
        return any(
            entry["name"] == self._selector["repositoryLocationName"]
            and entry["loadStatus"] == "LOADED"
            and (entry["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
            for entry in result.get("locationEntries", [])
        )

    def close(self) -> None:
        self._http.close()
