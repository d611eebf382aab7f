{#- Iceberg table maintenance on Athena, which the Prefect maintenance flow runs:

        dbt run-operation iceberg_maintenance --target aws
        dbt run-operation iceberg_maintenance --target aws --args '{models: [orders]}'

    For each Iceberg model (Silver and Gold): its snapshot-retention properties
    set again from the model's table_properties (so a changed config reaches
    tables built before it), OPTIMIZE ... REWRITE DATA USING BIN_PACK to compact
    small files, then VACUUM to expire old snapshots and remove orphan files.
    DuckLake's maintenance is the command line's, not this. -#}

{#- The statements that maintain one Iceberg table, in order. -#}
{% macro maintenance_statements(relation, table_properties=none) -%}
    {{ return(adapter.dispatch('maintenance_statements', 'streamlake')(relation, table_properties)) }}
{%- endmacro %}

{% macro default__maintenance_statements(relation, table_properties) -%}
    {{ exceptions.raise_compiler_error(
        "maintenance_statements covers Iceberg tables on Athena; target type '"
        ~ target.type ~ "' has its own maintenance") }}
{%- endmacro %}

{% macro athena__maintenance_statements(relation, table_properties) -%}
    {#- OPTIMIZE and VACUUM take [database.]table, without the catalog. -#}
    {%- set name = relation.include(database=false).render_pure() -%}
    {%- set statements = [] -%}
    {%- if table_properties -%}
        {%- set assignments = [] -%}
        {%- for key, value in table_properties.items() -%}
            {%- do assignments.append("'" ~ key ~ "'='" ~ value ~ "'") -%}
        {%- endfor -%}
        {%- do statements.append('alter table ' ~ relation.render_hive()
            ~ ' set tblproperties (' ~ assignments | join(', ') ~ ')') -%}
    {%- endif -%}
    {%- do statements.append('optimize ' ~ name ~ ' rewrite data using bin_pack') -%}
    {%- do statements.append('vacuum ' ~ name) -%}
    {{ return(statements) }}
{%- endmacro %}

{#- Runs one maintenance statement. Athena answers a large OPTIMIZE or VACUUM
    with ICEBERG_..._MORE_RUNS_NEEDED; dbt-athena repeats it until done. -#}
{% macro run_maintenance_statement(statement) -%}
    {{ return(adapter.dispatch('run_maintenance_statement', 'streamlake')(statement)) }}
{%- endmacro %}

{% macro default__run_maintenance_statement(statement) -%}
    {%- do run_query(statement) -%}
{%- endmacro %}

{% macro athena__run_maintenance_statement(statement) -%}
    {%- set verb = statement.split(' ')[0] -%}
    {%- if verb in ('optimize', 'vacuum') -%}
        {%- do adapter.run_operation_with_potential_multiple_runs(statement, verb) -%}
    {%- else -%}
        {%- do run_query(statement) -%}
    {%- endif -%}
{%- endmacro %}

{% macro iceberg_maintenance(models=none) -%}
    {%- set selected = [] -%}
    {%- set known = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.package_name == project_name -%}
        {%- if node.config.get('table_type') == 'iceberg'
            and node.config.materialized in ('table', 'incremental') -%}
            {%- do known.append(node.name) -%}
            {%- if models is none or node.name in models -%}
                {%- do selected.append(node) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set unknown = (models or []) | reject('in', known) | list -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error(
            "not Iceberg models of this project: " ~ unknown | join(', ')) }}
    {%- endif -%}
    {%- set done = [] -%}
    {%- for node in selected | sort(attribute='name') -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if relation is none -%}
            {{- log('skipped ' ~ node.schema ~ '.' ~ node.alias ~ ': not built yet', info=true) -}}
        {%- else -%}
            {%- for statement in maintenance_statements(relation, node.config.get('table_properties')) -%}
                {%- do run_maintenance_statement(statement) -%}
                {{- log(statement, info=true) -}}
            {%- endfor -%}
            {%- do done.append(node.schema ~ '.' ~ node.alias) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- log('maintained ' ~ done | length ~ ' Iceberg tables: ' ~ done | join(', '), info=true) -}}
{%- endmacro %}
