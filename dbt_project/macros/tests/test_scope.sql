{#- Which rows a data test looks at. By default every row (CI, `dbt build`).
    With STREAMLAKE_TEST_SCOPE=changed, which a scheduled transform sets,
    only the rows this run wrote in Silver and Gold, and in Bronze the rows
    landed since shortly before the run: a run's tests then cost what its new
    data costs, however large the tables grow. It overrides dbt's
    get_where_subquery, rendered when the test runs, so run_started_at is this
    run's. An environment variable, not a dbt var: dbt re-parses the whole
    project whenever its command-line vars change. -#}
{% macro default__get_where_subquery(relation) -%}
    {{ return(scoped_relation(relation, config.get('where'))) }}
{%- endmacro %}

{#- The rows of `relation` a test looks at: its `where`, if any, and the scope. -#}
{% macro scoped_relation(relation, where) -%}
    {%- set conditions = [] -%}
    {%- if where -%}
        {%- do conditions.append(where) -%}
    {%- endif -%}
    {#- Read only when the test runs: read while parsing, dbt would re-parse every
        schema file with tests whenever the scope changes. -#}
    {%- if execute and env_var('STREAMLAKE_TEST_SCOPE', 'all') == 'changed' -%}
        {%- if relation.schema == layer_schema('bronze') -%}
            {%- do conditions.append(
                "ingestion_time >= timestamp '" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S')
                ~ "' - interval '" ~ (var('watermark_lookback_minutes') + 10) ~ "' minute") -%}
        {%- elif relation.schema in (layer_schema('silver'), layer_schema('gold'))
            and relation.identifier not in _seed_names() -%}
            {%- do conditions.append(
                "_processed_at >= timestamp '"
                ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "'") -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        (select * from {{ relation }} where {{ conditions | join(' and ') }}) as dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Seeds sit beside the Silver models but carry no _processed_at: a seed's tests
    always look at all of its (few) rows. -#}
{% macro _seed_names() -%}
    {{ return(graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'seed')
        | map(attribute='alias') | list) }}
{%- endmacro %}
