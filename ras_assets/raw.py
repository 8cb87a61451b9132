"""Raw EMA outputs: one external asset per file EMA uploads, generated from the catalogue.

No run waits for EMA: the callback sensor reports these materialized when EMA says `succeeded`
(with the EMA job id, URI, size and attempt as metadata).
"""

from dagster import AssetDep, AssetKey, AssetSpec

from ras_assets.partitions import recordings_partitions
from ras_core import catalogue
from ras_platform.dagster_client import raw_asset_path


def raw_output_key(raw: catalogue.RawOutput) -> AssetKey:
    return AssetKey(raw_asset_path(raw))  # the API reports raw materializations under the same key


def raw_asset_key(raw_name: str) -> AssetKey:
    return raw_output_key(catalogue.raw_output(raw_name))


def _deps(cat: catalogue.Catalogue, job: catalogue.JobType) -> list[AssetDep]:
    upstream = [out.name for out in cat.ema_upstream_inputs(job).values()]
    return [AssetDep("recording"), *(AssetDep(name) for name in upstream)]


def build_raw_asset_specs(cat: catalogue.Catalogue) -> list[AssetSpec]:
    """One external asset per raw file of every job type in `cat`."""
    return [
        AssetSpec(
            key=raw_output_key(raw),
            deps=_deps(cat, job),
            partitions_def=recordings_partitions,
            group_name="ema",
            kinds={"ema", raw.file_format},
            description=f"`{raw.name}` as EMA uploads it ({raw.file_format}, API {job.ema_api_version}), "
            f"produced by the `{job.name}` job; write-once at "
            f"raw/{raw.name}/{{recording_id}}.{raw.file_format}.",
            metadata={"job_type": job.name, "ema_api": job.ema_api_version},
        )
        for job in cat.job_types
        for raw in job.raw_outputs
    ]


raw_asset_specs = build_raw_asset_specs(catalogue.CATALOGUE)
