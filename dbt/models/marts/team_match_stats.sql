-- One row per recording and side: the match details' team totals, with the opponent's possession
-- and the goals from the match report beside them for per-team comparisons.
with details as (
    select recording_id, 'home' as team_side, teams.home as stats from {{ source('processed', 'match_details') }}
    union all
    select recording_id, 'away' as team_side, teams.away as stats from {{ source('processed', 'match_details') }}
),

reports as (
    select recording_id, score.home as home_goals, score.away as away_goals
    from {{ source('processed', 'match_report') }}
)

select
    details.recording_id,
    details.team_side,
    case details.team_side when 'home' then reports.home_goals else reports.away_goals end as goals_for,
    case details.team_side when 'home' then reports.away_goals else reports.home_goals end as goals_against,
    details.stats.possession_pct,
    details.stats.passes,
    details.stats.pass_accuracy_pct,
    details.stats.shots,
    details.stats.shots_on_target,
    details.stats.corners,
    details.stats.fouls,
    details.stats.offsides
from details
left join reports using (recording_id)
order by details.recording_id, details.team_side desc
