{#- A model's YAML is its output: the aws target's incremental MERGE writes the
    declared columns only (incremental_athena.sql), so a column the SQL returns
    but the YAML leaves out would be dropped without a word. Both targets stop
    the model instead, with one line naming it and the column. Models that
    declare no column at all are left to the adapters' own materializations,
    which write every column. -#}
{% macro assert_declared_columns(column_names) -%}
    {%- set declared = model['columns'].values() | map(attribute='name') | map('lower') | list -%}
    {%- if declared | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set undeclared = column_names | map('lower') | reject('in', declared) | list -%}
    {%- if undeclared -%}
        {%- set yaml_file = (model.patch_path or '').split('://')[-1] or 'a YAML file beside it' -%}
        {{ exceptions.raise_compiler_error(
            "model " ~ model.name ~ " returns column" ~ ('s ' if undeclared | length > 1 else ' ')
            ~ undeclared | join(', ') ~ ", which its YAML does not declare: add "
            ~ ('them' if undeclared | length > 1 else 'it') ~ " to " ~ yaml_file
            ~ " (name, description" ~ (', data_type' if config.get('contract').enforced else '')
            ~ ") or drop " ~ ('them' if undeclared | length > 1 else 'it') ~ " from "
            ~ model.original_file_path) }}
    {%- endif -%}
{%- endmacro %}

{#- The column names the model's query returns (one query that reads no rows). -#}
{% macro query_column_names() -%}
    {{ return(get_column_schema_from_query(sql) | map(attribute='name') | list) }}
{%- endmacro %}
