{#- Gold recomputes only the periods whose Silver rows changed since Gold last
    ran, however old those periods are (invariant 5), and merges them on the
    model's grain. The watermark is Gold's own _processed_at (invariant 7). -#}

{#- Delete the groups a merge left empty (every order of the group deleted).
    DuckLake allows one UPDATE or DELETE per MERGE, so on DuckDB this runs right
    after the merge, in the same transaction; on Athena the MERGE's
    delete_condition does it in one statement. -#}
{% macro delete_emptied_groups(count_column) -%}
    {{ return(adapter.dispatch('delete_emptied_groups', 'streamlake')(count_column)) }}
{%- endmacro %}

{% macro default__delete_emptied_groups(count_column) -%}
    {#- nothing: an empty hook sends no statement -#}
{%- endmacro %}

{% macro duckdb__delete_emptied_groups(count_column) -%}
    delete from {{ this }} where {{ count_column }} = 0
{%- endmacro %}

{#- Merge condition for Athena's delete_condition: the recomputed group is empty. -#}
{% macro emptied_group_condition(count_column) -%}
    {{ merge_source_alias() }}.{{ count_column }} = 0
{%- endmacro %}

{#- Merge condition: write only when a value really changed, so that a run with
    no new data changes nothing. -#}
{% macro changed_values_condition(columns) -%}
    {%- for column in columns -%}
        {{ merge_source_alias() }}.{{ column }} is distinct from {{ merge_target_alias() }}.{{ column }}
        {%- if not loop.last %} or {% endif -%}
    {%- endfor -%}
{%- endmacro %}
