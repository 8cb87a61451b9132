-- One row per tracked player per recording: physical metrics summed over periods (top speed is the
-- maximum). Keyed by track id, because the jersey number is missing when EMA could not read it.
select
    regexp_extract(filename, '([^/]+)\.parquet$', 1) as recording_id,
    track_id,
    any_value(team_side) as team_side,
    max(jersey_number) as jersey_number,
    count(*) as periods,
    round(sum(distance_m), 1) as distance_m,
    round(sum(high_intensity_distance_m), 1) as high_intensity_distance_m,
    sum(sprint_count) as sprint_count,
    round(max(top_speed_mps), 2) as top_speed_mps
from {{ source('processed', 'physical_metrics') }}
group by 1, 2
order by 1, 3, 2
