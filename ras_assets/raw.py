"""Raw EMA outputs: one external asset per file EMA uploads, generated from the catalogue.

No run waits for EMA: the callback sensor reports these materialized when EMA says `succeeded`
(with the EMA job id, URI, size and attempt as metadata).
"""

from dagster import AssetDep, AssetKey, AssetSpec

from ras_assets.partitions import recordings_partitions
from ras_core import catalogue


def raw_asset_key(raw_name: str) -> AssetKey:
    return AssetKey(["ema", catalogue.raw_output(raw_name).asset_name])


def _deps(job: catalogue.JobType) -> list[AssetDep]:
    upstream = [out.name for out in catalogue.ema_upstream_inputs(job).values()]
    return [AssetDep("recording"), *(AssetDep(name) for name in upstream)]


raw_asset_specs = [
    AssetSpec(
        key=raw_asset_key(raw.name),
        deps=_deps(job),
        partitions_def=recordings_partitions,
        group_name="ema",
        kinds={"ema", raw.file_format},
        description=f"`{raw.name}` as EMA uploads it ({raw.file_format}, API {job.ema_api_version}), "
        f"produced by the `{job.name}` job; write-once at raw/{raw.name}/{{recording_id}}.{raw.file_format}.",
        metadata={"job_type": job.name, "ema_api": job.ema_api_version},
    )
    for job in catalogue.JOB_TYPES
    for raw in job.raw_outputs
]
