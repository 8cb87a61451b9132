-- One row per recording with any processed output: score, shots and xG per side, event counts and
-- how much of the match the tracking covers. Outputs not yet processed leave their columns null.
with reports as (
    select recording_id, score.home as home_goals, score.away as away_goals, summary
    from {{ source('processed', 'match_report') }}
),

shots as (
    select
        recording_id,
        len([s for s in shots if s.team_side = 'home']) as home_shots,
        len([s for s in shots if s.team_side = 'away']) as away_shots,
        coalesce(list_sum([s.xg for s in shots if s.team_side = 'home']), 0) as home_xg,
        coalesce(list_sum([s.xg for s in shots if s.team_side = 'away']), 0) as away_xg
    from {{ source('processed', 'shot_details') }}
),

events as (
    select
        recording_id,
        len(events) as event_count,
        len([e for e in events if e.team_side = 'home']) as home_events,
        len([e for e in events if e.team_side = 'away']) as away_events
    from {{ source('processed', 'events') }}
),

-- Only three columns of the tracking are read (parquet projection), not the positions.
tracking as (
    select
        regexp_extract(filename, '([^/]+)\.parquet$', 1) as recording_id,
        count(distinct frame) as frames_covered,
        count(distinct period) as periods_covered,
        max(t) as last_tracked_s
    from {{ source('processed', 'player_tracking') }}
    group by 1
),

recordings as (
    select recording_id from reports
    union
    select recording_id from shots
    union
    select recording_id from events
    union
    select recording_id from tracking
)

select
    recording_id,
    reports.home_goals,
    reports.away_goals,
    case
        when reports.home_goals > reports.away_goals then 'home'
        when reports.home_goals < reports.away_goals then 'away'
        when reports.home_goals is not null then 'draw'
    end as result,
    shots.home_shots,
    shots.away_shots,
    round(shots.home_xg, 3) as home_xg,
    round(shots.away_xg, 3) as away_xg,
    events.event_count,
    events.home_events,
    events.away_events,
    tracking.frames_covered,
    tracking.periods_covered,
    tracking.last_tracked_s,
    reports.summary
from recordings
left join reports using (recording_id)
left join shots using (recording_id)
left join events using (recording_id)
left join tracking using (recording_id)
order by recording_id
