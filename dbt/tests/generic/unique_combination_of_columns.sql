-- Rows whose combination of `columns` is not unique (dbt_utils has this test, but no dbt packages can
-- be installed here: hub.getdbt.com is not reachable).
{% test unique_combination_of_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
